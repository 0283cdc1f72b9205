package io.moeflow.api.chat.jinja;

import java.util.ArrayList;
import java.util.List;

/**
 * Splits a template into tokens exactly as jinja2's lexer does with {@code trim_blocks} and {@code lstrip_blocks}
 * on (Hugging Face's settings): {@code {{ }}}, {@code {% %}}, {@code {# #}} and {@code {% raw %}}, the
 * whitespace controls {@code -} and {@code +}, newline normalisation and the one trailing newline jinja2 drops.
 */
final class Lexer {
    enum Kind { DATA, VARIABLE_BEGIN, VARIABLE_END, BLOCK_BEGIN, BLOCK_END, NAME, STRING, INTEGER, FLOAT, OPERATOR, EOF }

    record Token(Kind kind, String text, Object value, int line) {
        boolean is(Kind k, String s) {
            return kind == k && text.equals(s);
        }

        boolean isName(String s) {
            return is(Kind.NAME, s);
        }

        boolean isOp(String s) {
            return is(Kind.OPERATOR, s);
        }
    }

    private static final String[] OPERATORS = {"//", "**", "==", "!=", ">=", "<=", "+", "-", "/", "*", "%", "~", "[",
            "]", "(", ")", "{", "}", ">", "<", "=", ".", ":", "|", ",", ";"};

    private final String src;
    private final List<Token> tokens = new ArrayList<>();
    private int pos;
    private int line = 1;
    /** Whether the last match ended with a newline (jinja2's line_starting), for lstrip_blocks. */
    private boolean lineStarting = true;

    private Lexer(String source) {
        this.src = normalize(source);
    }

    static List<Token> tokenize(String source) {
        Lexer lexer = new Lexer(source);
        lexer.run();
        return lexer.tokens;
    }

    /** \r\n and \r become \n; one trailing newline is dropped (keep_trailing_newline is off). */
    private static String normalize(String s) {
        String n = s.replace("\r\n", "\n").replace('\r', '\n');
        return n.endsWith("\n") ? n.substring(0, n.length() - 1) : n;
    }

    private void run() {
        while (pos < src.length()) {
            int tag = nextTagStart(pos);
            if (tag < 0) {
                emitData(src.substring(pos));
                pos = src.length();
                break;
            }
            String text = src.substring(pos, tag);
            char type = src.charAt(tag + 1);
            int after = tag + 2;
            char sign = after < src.length() && (src.charAt(after) == '-' || src.charAt(after) == '+') ? src.charAt(after) : 0;
            int rawEnd = type == '%' ? rawBegin(tag) : -1;
            text = stripBefore(text, sign, type != '{');
            emitData(text);
            line += countNewlines(src, pos, tag);
            if (rawEnd >= 0) {
                lineStarting = src.charAt(rawEnd - 1) == '\n';
                line += countNewlines(src, tag, rawEnd);
                pos = rawEnd;
                raw();
                continue;
            }
            pos = after + (sign != 0 ? 1 : 0);
            lineStarting = false;
            switch (type) {
                case '#' -> comment();
                case '%' -> {
                    tokens.add(new Token(Kind.BLOCK_BEGIN, "{%", null, line));
                    inTag("%}", true);
                }
                default -> {
                    tokens.add(new Token(Kind.VARIABLE_BEGIN, "{{", null, line));
                    inTag("}}", false);
                }
            }
        }
        tokens.add(new Token(Kind.EOF, "", null, line));
    }

    /** The earliest "{{", "{%" or "{#" at or after from, or -1. */
    private int nextTagStart(int from) {
        int i = from;
        while (true) {
            i = src.indexOf('{', i);
            if (i < 0 || i + 1 >= src.length()) return -1;
            char c = src.charAt(i + 1);
            if (c == '{' || c == '%' || c == '#') return i;
            i++;
        }
    }

    /** jinja2's whitespace control on the data before a tag: "-" strips all of it, lstrip_blocks the indentation. */
    private String stripBefore(String text, char sign, boolean lstripApplies) {
        if (sign == '-') return PyStrings.rstrip(text, null);
        if (sign != '+' && lstripApplies) {
            int lpos = text.lastIndexOf('\n') + 1;
            if ((lpos > 0 || lineStarting) && lpos < text.length() && PyStrings.isAllSpace(text, lpos)) {
                return text.substring(0, lpos);
            }
        }
        return text;
    }

    private void emitData(String text) {
        if (!text.isEmpty()) tokens.add(new Token(Kind.DATA, text, text, line));
    }

    /** If a {@code {% raw %}} tag starts at tag, the position after it, else -1. */
    private int rawBegin(int tag) {
        int i = tag + 2;
        if (i < src.length() && (src.charAt(i) == '-' || src.charAt(i) == '+')) i++;
        i = skipSpace(i);
        if (!src.startsWith("raw", i)) return -1;
        i = skipSpace(i + 3);
        if (src.startsWith("-%}", i)) return skipSpace(i + 3);
        if (src.startsWith("%}", i)) return i + 2;
        return -1;
    }

    /** The body of a raw block up to {@code {% endraw %}}, emitted as data. */
    private void raw() {
        int search = pos;
        while (true) {
            int tag = src.indexOf("{%", search);
            if (tag < 0) throw error("Missing end of raw directive");
            int i = tag + 2;
            char sign = i < src.length() && (src.charAt(i) == '-' || src.charAt(i) == '+') ? src.charAt(i) : 0;
            if (sign != 0) i++;
            i = skipSpace(i);
            if (src.startsWith("endraw", i)) {
                int end = blockEnd(skipSpace(i + 6), "%}", true);
                if (end >= 0) {
                    String text = stripBefore(src.substring(pos, tag), sign, true);
                    emitData(text);
                    line += countNewlines(src, pos, end);
                    lineStarting = src.charAt(end - 1) == '\n';
                    pos = end;
                    return;
                }
            }
            search = tag + 2;
        }
    }

    private void comment() {
        int i = pos;
        while (true) {
            int end = src.indexOf("#}", i);
            if (end < 0) throw error("Missing end of comment tag");
            int close;
            if (end > pos && src.charAt(end - 1) == '-') {
                close = skipSpace(end + 2);
            } else if (end > pos && src.charAt(end - 1) == '+') {
                close = end + 2;
            } else {
                close = end + 2;
                if (close < src.length() && src.charAt(close) == '\n') close++;
            }
            line += countNewlines(src, pos, close);
            lineStarting = src.charAt(close - 1) == '\n';
            pos = close;
            return;
        }
    }

    /**
     * The position after the end of a tag ("%}" / "}}" with its "-" or "+" and trim_blocks' newline) if one starts
     * at i, else -1.
     */
    private int blockEnd(int i, String end, boolean trimBlocks) {
        if (trimBlocks && src.startsWith("+" + end, i)) return i + 3;
        if (src.startsWith("-" + end, i)) return skipSpace(i + 3);
        if (src.startsWith(end, i)) {
            int after = i + 2;
            if (trimBlocks && after < src.length() && src.charAt(after) == '\n') after++;
            return after;
        }
        return -1;
    }

    /** Tokens of an expression tag up to its end, which only counts while brackets are balanced. */
    private void inTag(String end, boolean block) {
        List<Character> balance = new ArrayList<>();
        while (true) {
            if (pos >= src.length()) throw error("unexpected end of template, expected '" + end + "'");
            if (balance.isEmpty()) {
                int after = blockEnd(pos, end, block);
                if (after >= 0) {
                    tokens.add(new Token(block ? Kind.BLOCK_END : Kind.VARIABLE_END, end, null, line));
                    line += countNewlines(src, pos, after);
                    lineStarting = src.charAt(after - 1) == '\n';
                    pos = after;
                    return;
                }
            }
            char c = src.charAt(pos);
            if (PyStrings.isSpace(c)) {
                if (c == '\n') line++;
                pos++;
                continue;
            }
            if (lexNumber() || lexName() || lexString()) continue;
            String op = operatorAt(pos);
            if (op == null) throw error("unexpected char '" + c + "'");
            switch (op) {
                case "{" -> balance.add('}');
                case "(" -> balance.add(')');
                case "[" -> balance.add(']');
                case "}", ")", "]" -> {
                    if (balance.isEmpty()) throw error("unexpected '" + op + "'");
                    char expected = balance.removeLast();
                    if (expected != op.charAt(0)) throw error("unexpected '" + op + "', expected '" + expected + "'");
                }
                default -> { }
            }
            tokens.add(new Token(Kind.OPERATOR, op, null, line));
            pos += op.length();
        }
    }

    private String operatorAt(int i) {
        for (String op : OPERATORS) {
            if (src.startsWith(op, i)) return op;
        }
        return null;
    }

    private boolean lexName() {
        int cp = src.codePointAt(pos);
        if (!(Character.isLetter(cp) || cp == '_')) return false;
        int i = pos + Character.charCount(cp);
        while (i < src.length()) {
            int c = src.codePointAt(i);
            if (!(Character.isLetterOrDigit(c) || c == '_' || Character.getType(c) == Character.NON_SPACING_MARK
                    || Character.getType(c) == Character.COMBINING_SPACING_MARK || Character.getType(c) == Character.CONNECTOR_PUNCTUATION)) {
                break;
            }
            i += Character.charCount(c);
        }
        String name = src.substring(pos, i);
        tokens.add(new Token(Kind.NAME, name, name, line));
        pos = i;
        return true;
    }

    /** jinja2's float_re (tried first) and integer_re, underscores allowed between digits. */
    private boolean lexNumber() {
        char c = src.charAt(pos);
        if (c < '0' || c > '9') return false;
        if (pos > 0 && src.charAt(pos - 1) == '.') {
            // float_re does not start after a '.', but integer_re may (as in "x.0.1").
            return lexInteger();
        }
        int i = digits(pos);
        int intEnd = i;
        boolean isFloat = false;
        if (i < src.length() && src.charAt(i) == '.' && i + 1 < src.length() && isDigit(src.charAt(i + 1))) {
            i = digits(i + 1);
            isFloat = true;
        }
        int exp = exponent(i);
        if (exp > 0) {
            i = exp;
            isFloat = true;
        }
        if (isFloat) {
            String text = src.substring(pos, i);
            tokens.add(new Token(Kind.FLOAT, text, Double.parseDouble(text.replace("_", "")), line));
            pos = i;
            return true;
        }
        if (intEnd > pos) return lexInteger();
        return false;
    }

    private boolean lexInteger() {
        int start = pos;
        int i;
        int radix = 10;
        String lower = src.substring(pos, Math.min(src.length(), pos + 2)).toLowerCase(java.util.Locale.ROOT);
        if (lower.equals("0b") || lower.equals("0o") || lower.equals("0x")) {
            radix = lower.charAt(1) == 'b' ? 2 : lower.charAt(1) == 'o' ? 8 : 16;
            i = pos + 2;
            int digitsStart = i;
            while (i < src.length() && (Character.digit(src.charAt(i), radix) >= 0
                    || (src.charAt(i) == '_' && i + 1 < src.length() && Character.digit(src.charAt(i + 1), radix) >= 0))) {
                i++;
            }
            if (i == digitsStart) {
                radix = 10;
                i = pos + 1;
            } else {
                start = pos + 2;
            }
        } else if (src.charAt(pos) == '0') {
            i = pos + 1;
            while (i < src.length() && (src.charAt(i) == '0' || (src.charAt(i) == '_' && i + 1 < src.length() && src.charAt(i + 1) == '0'))) {
                i++;
            }
        } else {
            i = digits(pos);
        }
        String text = src.substring(pos, i);
        Object value = Py.intValue(new java.math.BigInteger(src.substring(start, i).replace("_", ""), radix));
        tokens.add(new Token(Kind.INTEGER, text, value, line));
        pos = i;
        return true;
    }

    private int digits(int i) {
        while (i < src.length() && (isDigit(src.charAt(i))
                || (src.charAt(i) == '_' && i + 1 < src.length() && isDigit(src.charAt(i + 1)) && i > pos && isDigit(src.charAt(i - 1))))) {
            i++;
        }
        return i;
    }

    private int exponent(int i) {
        if (i >= src.length() || (src.charAt(i) != 'e' && src.charAt(i) != 'E')) return -1;
        int j = i + 1;
        if (j < src.length() && (src.charAt(j) == '+' || src.charAt(j) == '-')) j++;
        if (j >= src.length() || !isDigit(src.charAt(j))) return -1;
        int start = j;
        while (j < src.length() && (isDigit(src.charAt(j)) || (src.charAt(j) == '_' && j + 1 < src.length()
                && isDigit(src.charAt(j + 1)) && j > start))) {
            j++;
        }
        return j;
    }

    private static boolean isDigit(char c) {
        return c >= '0' && c <= '9';
    }

    /** A quoted string with Python's escapes (jinja2 decodes them with "unicode-escape"). */
    private boolean lexString() {
        char quote = src.charAt(pos);
        if (quote != '\'' && quote != '"') return false;
        int i = pos + 1;
        while (i < src.length() && src.charAt(i) != quote) {
            i += src.charAt(i) == '\\' ? 2 : 1;
        }
        if (i >= src.length()) throw error("unexpected char '" + quote + "'");
        String body = src.substring(pos + 1, i);
        tokens.add(new Token(Kind.STRING, src.substring(pos, i + 1), unescape(body), line));
        line += countNewlines(src, pos, i);
        pos = i + 1;
        return true;
    }

    private String unescape(String s) {
        if (s.indexOf('\\') < 0) return s;
        StringBuilder out = new StringBuilder(s.length());
        for (int i = 0; i < s.length(); i++) {
            char c = s.charAt(i);
            if (c != '\\' || i + 1 >= s.length()) {
                out.append(c);
                continue;
            }
            char e = s.charAt(++i);
            switch (e) {
                case '\n' -> { }
                case '\\' -> out.append('\\');
                case '\'' -> out.append('\'');
                case '"' -> out.append('"');
                case 'a' -> out.append('\u0007');
                case 'b' -> out.append('\b');
                case 'f' -> out.append('\f');
                case 'n' -> out.append('\n');
                case 'r' -> out.append('\r');
                case 't' -> out.append('\t');
                case 'v' -> out.append('\u000b');
                case 'x' -> i = hexEscape(s, i, 2, out);
                case 'u' -> i = hexEscape(s, i, 4, out);
                case 'U' -> i = hexEscape(s, i, 8, out);
                case 'N' -> throw error("\\N{...} escapes are not supported");
                default -> {
                    if (e >= '0' && e <= '7') {
                        int j = i;
                        int v = 0;
                        while (j < s.length() && j < i + 3 && s.charAt(j) >= '0' && s.charAt(j) <= '7') {
                            v = v * 8 + (s.charAt(j) - '0');
                            j++;
                        }
                        out.appendCodePoint(v);
                        i = j - 1;
                    } else {
                        out.append('\\').append(e); // Python keeps unknown escapes as they are
                    }
                }
            }
        }
        return out.toString();
    }

    private int hexEscape(String s, int i, int n, StringBuilder out) {
        String hex = s.substring(i + 1, Math.min(s.length(), i + 1 + n));
        if (hex.length() != n || !hex.chars().allMatch(ch -> Character.digit(ch, 16) >= 0)) {
            throw error("truncated \\" + s.charAt(i) + " escape");
        }
        int cp = (int) Long.parseLong(hex, 16);
        if (cp > Character.MAX_CODE_POINT) throw error("illegal Unicode character");
        out.appendCodePoint(cp);
        return i + n;
    }

    private int skipSpace(int i) {
        while (i < src.length() && PyStrings.isSpace(src.charAt(i))) i++;
        return i;
    }

    private static int countNewlines(String s, int from, int to) {
        int n = 0;
        for (int i = from; i < to && i < s.length(); i++) {
            if (s.charAt(i) == '\n') n++;
        }
        return n;
    }

    private TemplateException error(String message) {
        return TemplateException.syntax(message, line);
    }
}
