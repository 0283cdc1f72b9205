package io.moeflow.api.chat.jinja;

/**
 * The limits of one render, checked as it goes so that no template and no request can run for long or build huge
 * values: a deadline (also ends the render when its thread is interrupted), the most characters of any string and
 * of the output, the most items of any list or dict, and the deepest nesting of macro calls and expressions.
 */
final class Budget {
    /** jinja2's sandbox refuses larger ranges (MAX_RANGE); so do we. */
    static final int MAX_RANGE = 100_000;

    private final RenderLimits limits;
    private final long deadline;
    private long steps;
    private int depth;

    Budget(RenderLimits limits) {
        this.limits = limits;
        this.deadline = System.nanoTime() + limits.timeout().toNanos();
    }

    /** One evaluation step; every 1024 steps the clock and the thread's interrupt flag are checked. */
    void step() {
        if ((++steps & 1023) == 0) {
            if (System.nanoTime() - deadline > 0) {
                throw TemplateException.limit("the chat template ran longer than its limit of " + limits.timeout().toMillis() + " ms");
            }
            if (Thread.currentThread().isInterrupted()) throw TemplateException.limit("the chat template render was interrupted");
        }
    }

    /** Refuses a string (or the output) of more than the character limit. */
    void chars(long n) {
        if (n > limits.maxChars()) {
            throw TemplateException.limit("the chat template would produce more than " + limits.maxChars() + " characters");
        }
    }

    void items(long n) {
        if (n > limits.maxItems()) {
            throw TemplateException.limit("the chat template would build a collection of more than " + limits.maxItems() + " items");
        }
    }

    void enter() {
        if (++depth > limits.maxDepth()) {
            depth--;
            throw TemplateException.limit("the chat template nests deeper than " + limits.maxDepth() + " levels (macro recursion?)");
        }
    }

    void exit() {
        depth--;
    }
}
