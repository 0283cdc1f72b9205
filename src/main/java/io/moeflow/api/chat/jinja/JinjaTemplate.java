package io.moeflow.api.chat.jinja;

import java.time.LocalDateTime;
import java.util.List;
import java.util.Map;
import java.util.function.Supplier;

/**
 * A parsed Jinja template, rendered as Python's jinja2 renders it with Hugging Face's chat-template environment
 * (trim_blocks, lstrip_blocks, loopcontrols, tojson, raise_exception, strftime_now, {% generation %}). moeflow's own
 * interpreter: the template is the only code; the context holds only values (strings, numbers, lists, dicts), and
 * a render is bounded by {@link RenderLimits}. Immutable and thread-safe; each render has its own state.
 */
public final class JinjaTemplate {
    private final List<Node.Stmt> body;

    private JinjaTemplate(List<Node.Stmt> body) {
        this.body = body;
    }

    /** Parses a template; a syntax error throws a {@link TemplateException} of kind SYNTAX. */
    public static JinjaTemplate parse(String source) {
        try {
            return new JinjaTemplate(Parser.parse(source));
        } catch (StackOverflowError e) {
            throw TemplateException.syntax("the template nests too deeply", 0);
        }
    }

    /**
     * Renders with {@code context} (names to values made by {@link TemplateValues}, or String, Boolean, Long).
     * {@code marks}, when not null, records which values the template read.
     */
    public String render(Map<String, Object> context, RenderLimits limits, Supplier<LocalDateTime> now, Marks marks) {
        Interpreter in = new Interpreter(new Budget(limits), new Environment(now), marks);
        try {
            return in.render(body, context);
        } catch (StackOverflowError e) {
            throw TemplateException.limit("the chat template nests too deeply");
        }
    }
}
