package io.moeflow.api;

/**
 * Client strings (request ids, paths, header values, parser messages that quote the input) made safe to log: one
 * line, nothing a terminal or a log viewer would interpret. A newline followed by a fake "ERROR" line stays inside
 * the record it belongs to.
 */
public final class ClientText {
    /** Longer strings are cut: a client must not be able to fill the log with one field. */
    public static final int MAX_LOGGED_CHARS = 256;

    private ClientText() {}

    /**
     * {@code value} with control characters (C0, DEL, C1), line and paragraph separators, bidirectional overrides and
     * unpaired surrogates written as {@code \n}, {@code \r}, {@code \t} or {@code \}{@code uXXXX}, backslashes doubled
     * (so that an escape in the log cannot be forged either), and cut after {@link #MAX_LOGGED_CHARS} characters.
     */
    public static String forLog(Object value) {
        if (value == null) return "null";
        String s = value.toString();
        int n = Math.min(s.length(), MAX_LOGGED_CHARS);
        if (n < s.length() && Character.isHighSurrogate(s.charAt(n - 1))) n--; // do not cut a pair in two
        StringBuilder out = null;
        for (int i = 0; i < n; i++) {
            char c = s.charAt(i);
            String escape = escape(s, i, c);
            if (escape == null) {
                if (out != null) out.append(c);
                continue;
            }
            if (out == null) out = new StringBuilder(n + 16).append(s, 0, i);
            out.append(escape);
        }
        if (out == null && n == s.length()) return s;
        if (out == null) out = new StringBuilder(s.substring(0, n));
        if (n < s.length()) out.append("...(").append(s.length() - n).append(" more chars)");
        return out.toString();
    }

    private static String escape(String s, int i, char c) {
        switch (c) {
            case '\n': return "\\n";
            case '\r': return "\\r";
            case '\t': return "\\t";
            case '\\': return "\\\\";
            default: break;
        }
        boolean unsafe = Character.isISOControl(c)
                || c == '\u2028' || c == '\u2029'
                || (c >= '\u202A' && c <= '\u202E') || (c >= '\u2066' && c <= '\u2069')
                || Character.isHighSurrogate(c) && (i + 1 >= s.length() || !Character.isLowSurrogate(s.charAt(i + 1)))
                || Character.isLowSurrogate(c) && (i == 0 || !Character.isHighSurrogate(s.charAt(i - 1)));
        return unsafe ? String.format("\\u%04X", (int) c) : null;
    }
}
