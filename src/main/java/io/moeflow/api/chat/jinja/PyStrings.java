package io.moeflow.api.chat.jinja;

import java.util.ArrayList;
import java.util.List;
import java.util.Locale;

/** Python's str semantics on Java strings: code points (not UTF-16 units), Python's whitespace, its methods. */
final class PyStrings {
    private PyStrings() {}

    /** str.isspace() for one code point (the characters of CPython's _PyUnicode_IsWhitespace). */
    static boolean isSpace(int c) {
        return (c >= 0x09 && c <= 0x0d) || (c >= 0x1c && c <= 0x20) || c == 0x85 || c == 0xa0 || c == 0x1680
                || (c >= 0x2000 && c <= 0x200a) || c == 0x2028 || c == 0x2029 || c == 0x202f || c == 0x205f || c == 0x3000;
    }

    /** Whether s[from:] is non-empty whitespace only. */
    static boolean isAllSpace(String s, int from) {
        if (from >= s.length()) return false;
        for (int i = from; i < s.length(); i++) {
            if (!isSpace(s.charAt(i))) return false;
        }
        return true;
    }

    static int length(String s) {
        return s.codePointCount(0, s.length());
    }

    private static boolean simple(String s) {
        for (int i = 0; i < s.length(); i++) {
            if (Character.isSurrogate(s.charAt(i))) return false;
        }
        return true;
    }

    static int[] codePoints(String s) {
        return s.codePoints().toArray();
    }

    static String fromCodePoints(int[] cps, int from, int to) {
        return new String(cps, from, Math.max(0, to - from));
    }

    /** s[i] with Python's negative indices, or null when out of range. */
    static String charAt(String s, long index) {
        if (simple(s)) {
            long i = index < 0 ? index + s.length() : index;
            return i < 0 || i >= s.length() ? null : String.valueOf(s.charAt((int) i));
        }
        int[] cps = codePoints(s);
        long i = index < 0 ? index + cps.length : index;
        return i < 0 || i >= cps.length ? null : new String(cps, (int) i, 1);
    }

    static boolean inChars(int c, String chars) {
        return chars == null ? isSpace(c) : chars.indexOf(c) >= 0 || (c > 0xffff && chars.contains(Character.toString(c)));
    }

    static String strip(String s, String chars) {
        return lstrip(rstrip(s, chars), chars);
    }

    static String lstrip(String s, String chars) {
        int i = 0;
        while (i < s.length()) {
            int c = s.codePointAt(i);
            if (!inChars(c, chars)) break;
            i += Character.charCount(c);
        }
        return s.substring(i);
    }

    static String rstrip(String s, String chars) {
        int i = s.length();
        while (i > 0) {
            int c = s.codePointBefore(i);
            if (!inChars(c, chars)) break;
            i -= Character.charCount(c);
        }
        return s.substring(0, i);
    }

    /** str.split(sep, maxsplit): sep null splits on whitespace runs, dropping empty parts. */
    static List<Object> split(String s, String sep, long maxsplit) {
        List<Object> out = new ArrayList<>();
        if (sep == null) {
            int i = 0;
            int n = s.length();
            while (true) {
                while (i < n && isSpace(s.charAt(i))) i++;
                if (i >= n) break;
                if (maxsplit >= 0 && out.size() >= maxsplit) {
                    out.add(rstrip(s.substring(i), null));
                    break;
                }
                int j = i;
                while (j < n && !isSpace(s.charAt(j))) j++;
                out.add(s.substring(i, j));
                i = j;
            }
            return out;
        }
        if (sep.isEmpty()) throw TemplateException.runtime("empty separator");
        int i = 0;
        while (maxsplit < 0 || out.size() < maxsplit) {
            int j = s.indexOf(sep, i);
            if (j < 0) break;
            out.add(s.substring(i, j));
            i = j + sep.length();
        }
        out.add(s.substring(i));
        return out;
    }

    static List<Object> rsplit(String s, String sep, long maxsplit) {
        if (maxsplit < 0) return split(s, sep, -1);
        List<Object> out = new ArrayList<>();
        if (sep == null) {
            int end = s.length();
            while (true) {
                while (end > 0 && isSpace(s.charAt(end - 1))) end--;
                if (end <= 0) break;
                if (out.size() >= maxsplit) {
                    out.addFirst(lstrip(s.substring(0, end), null));
                    break;
                }
                int j = end;
                while (j > 0 && !isSpace(s.charAt(j - 1))) j--;
                out.addFirst(s.substring(j, end));
                end = j;
            }
            return out;
        }
        if (sep.isEmpty()) throw TemplateException.runtime("empty separator");
        int end = s.length();
        while (out.size() < maxsplit) {
            int j = s.lastIndexOf(sep, end - sep.length());
            if (j < 0) break;
            out.addFirst(s.substring(j + sep.length(), end));
            end = j;
        }
        out.addFirst(s.substring(0, end));
        return out;
    }

    private static boolean isLineBreak(char c) {
        return c == '\n' || c == '\r' || c == 0x0b || c == 0x0c || c == 0x1c || c == 0x1d || c == 0x1e || c == 0x85
                || c == 0x2028 || c == 0x2029;
    }

    static List<Object> splitlines(String s, boolean keepends) {
        List<Object> out = new ArrayList<>();
        int i = 0;
        int start = 0;
        while (i < s.length()) {
            char c = s.charAt(i);
            if (isLineBreak(c)) {
                int eol = i + (c == '\r' && i + 1 < s.length() && s.charAt(i + 1) == '\n' ? 2 : 1);
                out.add(s.substring(start, keepends ? eol : i));
                start = eol;
                i = eol;
            } else {
                i++;
            }
        }
        if (start < s.length()) out.add(s.substring(start));
        return out;
    }

    static String upper(String s) {
        return s.toUpperCase(Locale.ROOT);
    }

    static String lower(String s) {
        return s.toLowerCase(Locale.ROOT);
    }

    /** str.title(): a cased character after an uncased one is upper-cased, the others lower-cased. */
    static String title(String s) {
        StringBuilder out = new StringBuilder(s.length());
        boolean previousCased = false;
        for (int i = 0; i < s.length(); ) {
            int c = s.codePointAt(i);
            i += Character.charCount(c);
            if (previousCased) {
                out.append(Character.toString(c).toLowerCase(Locale.ROOT));
            } else {
                out.append(Character.toString(Character.toTitleCase(c)));
            }
            previousCased = Character.isUpperCase(c) || Character.isLowerCase(c) || Character.isTitleCase(c);
        }
        return out.toString();
    }

    /** str.capitalize(): the first character title-cased, the rest lower-cased. */
    static String capitalize(String s) {
        if (s.isEmpty()) return s;
        int first = s.codePointAt(0);
        return Character.toString(Character.toTitleCase(first)) + lower(s.substring(Character.charCount(first)));
    }

    static String replace(String s, String old, String replacement, long count, Budget budget) {
        if (count == 0) return s;
        if (old.isEmpty()) {
            // Python inserts the replacement between all characters and at both ends.
            int[] cps = codePoints(s);
            long inserts = count < 0 ? cps.length + 1L : Math.min(count, cps.length + 1L);
            budget.chars(s.length() + inserts * replacement.length());
            StringBuilder out = new StringBuilder();
            long done = 0;
            for (int i = 0; i <= cps.length; i++) {
                if (done < inserts) {
                    out.append(replacement);
                    done++;
                }
                if (i < cps.length) out.appendCodePoint(cps[i]);
            }
            return out.toString();
        }
        StringBuilder out = new StringBuilder();
        int i = 0;
        long done = 0;
        while (count < 0 || done < count) {
            int j = s.indexOf(old, i);
            if (j < 0) break;
            out.append(s, i, j).append(replacement);
            budget.chars(out.length());
            i = j + old.length();
            done++;
        }
        out.append(s, i, s.length());
        budget.chars(out.length());
        return out.toString();
    }

    /** str.find with code-point indices. */
    static long find(String s, String sub, boolean last) {
        int i = last ? s.lastIndexOf(sub) : s.indexOf(sub);
        return i < 0 ? -1 : s.codePointCount(0, i);
    }

    static long count(String s, String sub) {
        if (sub.isEmpty()) return length(s) + 1L;
        long n = 0;
        int i = 0;
        while ((i = s.indexOf(sub, i)) >= 0) {
            n++;
            i += sub.length();
        }
        return n;
    }

    static String center(String s, int width, String fill) {
        int len = length(s);
        if (width <= len) return s;
        int marg = width - len;
        // CPython: left = marg / 2 + (marg & width & 1)
        int left = marg / 2 + (marg & width & 1);
        return fill.repeat(left) + s + fill.repeat(marg - left);
    }
}
