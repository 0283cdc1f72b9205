package io.moeflow.api.chat.jinja;

import java.time.Duration;

/**
 * Bounds of one template render: CPU time, characters of any string including the output, items of any
 * list or dict, nesting depth of macro calls and expressions. Exceeding one ends the render with a
 * {@link TemplateException.Kind#LIMIT} error.
 */
public record RenderLimits(Duration timeout, int maxChars, int maxItems, int maxDepth) {
    public RenderLimits {
        if (timeout.isNegative() || timeout.isZero()) throw new IllegalArgumentException("timeout must be positive");
        if (maxChars < 1 || maxItems < 1 || maxDepth < 1) throw new IllegalArgumentException("limits must be positive");
    }

    /** Generous for every real template, small enough that a hostile one ends quickly. */
    public static final RenderLimits DEFAULT = new RenderLimits(Duration.ofSeconds(2), 8 << 20, 1 << 20, 100);
}
