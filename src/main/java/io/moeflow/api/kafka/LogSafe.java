package io.moeflow.api.kafka;

/**
 * Client text (request ids, messages) made safe for one log line: control characters are written as escapes, so
 * an id with a newline cannot forge a log line of its own, and long values are cut.
 */
final class LogSafe {
    private static final int MAX = 300;

    private LogSafe() {}

    /** A request id, quoted. */
    static String id(String id) {
        return "\"" + text(id) + "\"";
    }

    static String text(String s) {
        if (s == null) return "null";
        StringBuilder out = new StringBuilder(Math.min(s.length(), MAX) + 8);
        for (int i = 0; i < s.length() && out.length() < MAX; i++) {
            char c = s.charAt(i);
            if (c == '\n') out.append("\\n");
            else if (c == '\r') out.append("\\r");
            else if (c == '\t') out.append("\\t");
            else if (c < 0x20 || c == 0x7f || (c >= 0x80 && c < 0xa0) || c == '\u2028' || c == '\u2029') {
                out.append(String.format("\\u%04x", (int) c));
            } else {
                out.append(c);
            }
        }
        if (out.length() >= MAX && s.length() > MAX) out.append("...");
        return out.toString();
    }
}
