package io.moeflow.api.chat.jinja;

/**
 * jinja2's default Undefined: prints as "", is false, iterates as empty, has length 0, equals only another
 * Undefined; arithmetic, attribute access, calls and comparisons on it fail with {@link #message()}.
 */
final class Undefined {
    private final String message;

    private Undefined(String message) {
        this.message = message;
    }

    static Undefined name(String name) {
        return new Undefined("'" + name + "' is undefined");
    }

    static Undefined attribute(Object owner, Object attribute) {
        return new Undefined("'" + Py.typeName(owner) + " object' has no attribute " + Py.repr(attribute));
    }

    static Undefined hint(String message) {
        return new Undefined(message);
    }

    String message() {
        return message;
    }

    TemplateException error() {
        return TemplateException.runtime(message);
    }
}
