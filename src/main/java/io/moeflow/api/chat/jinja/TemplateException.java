package io.moeflow.api.chat.jinja;

/**
 * Why a template could not be parsed or rendered. {@link Kind#RAISED} is the template's own
 * {@code raise_exception(message)}; {@link Kind#LIMIT} a render limit (time, output size, depth, collection size).
 */
public final class TemplateException extends RuntimeException {
    public enum Kind { SYNTAX, RUNTIME, RAISED, LIMIT }

    private final Kind kind;
    private final int line;

    private TemplateException(Kind kind, String message, int line) {
        super(message);
        this.kind = kind;
        this.line = line;
    }

    static TemplateException syntax(String message, int line) {
        return new TemplateException(Kind.SYNTAX, message, line);
    }

    static TemplateException runtime(String message) {
        return new TemplateException(Kind.RUNTIME, message, 0);
    }

    static TemplateException raised(String message) {
        return new TemplateException(Kind.RAISED, message, 0);
    }

    static TemplateException limit(String message) {
        return new TemplateException(Kind.LIMIT, message, 0);
    }

    /** The same error, located at a template line (the first line given wins). */
    TemplateException at(int templateLine) {
        if (line > 0 || templateLine <= 0 || kind == Kind.RAISED || kind == Kind.LIMIT) return this;
        return new TemplateException(kind, getMessage(), templateLine);
    }

    public Kind kind() {
        return kind;
    }

    /** 1-based line of the template the error is at; 0 when unknown. */
    public int line() {
        return line;
    }

    /** The message with its line, for errors about the template. */
    public String describe() {
        return line > 0 ? getMessage() + " (template line " + line + ")" : getMessage();
    }
}
