package io.moeflow.api.chat.jinja;

import java.math.BigDecimal;
import java.math.BigInteger;
import java.math.RoundingMode;
import java.util.List;

/** Python's printf-style {@code format % args} (also the format filter): s r d i o x X e E f F g G c %. */
final class PyFormat {
    private PyFormat() {}

    static String percent(String format, Object args, Budget budget) {
        List<Object> positional = args instanceof PyList l && l.tuple ? l.items : List.of(args);
        PyDict mapping = args instanceof PyDict d ? d : null;
        StringBuilder out = new StringBuilder();
        int next = 0;
        int i = 0;
        while (i < format.length()) {
            char c = format.charAt(i++);
            if (c != '%') {
                out.append(c);
                continue;
            }
            if (i >= format.length()) throw TemplateException.runtime("incomplete format");
            Object value = null;
            if (format.charAt(i) == '(') {
                int close = format.indexOf(')', i);
                if (close < 0) throw TemplateException.runtime("incomplete format key");
                if (mapping == null) throw TemplateException.runtime("format requires a mapping");
                value = mapping.get(format.substring(i + 1, close));
                if (value == null) throw TemplateException.runtime("KeyError: " + Py.repr(format.substring(i + 1, close)));
                i = close + 1;
            }
            String flags = "";
            while (i < format.length() && "#0- +".indexOf(format.charAt(i)) >= 0) flags += format.charAt(i++);
            int width = -1;
            if (i < format.length() && format.charAt(i) == '*') {
                width = (int) Py.toLong(positional.get(next++));
                i++;
            } else {
                int start = i;
                while (i < format.length() && Character.isDigit(format.charAt(i))) i++;
                if (i > start) width = Integer.parseInt(format.substring(start, i));
            }
            int precision = -1;
            if (i < format.length() && format.charAt(i) == '.') {
                i++;
                int start = i;
                while (i < format.length() && Character.isDigit(format.charAt(i))) i++;
                precision = i > start ? Integer.parseInt(format.substring(start, i)) : 0;
            }
            while (i < format.length() && "hlL".indexOf(format.charAt(i)) >= 0) i++;
            if (i >= format.length()) throw TemplateException.runtime("incomplete format");
            char type = format.charAt(i++);
            if (type == '%') {
                out.append('%');
                continue;
            }
            if (value == null) {
                if (mapping != null) {
                    value = mapping;
                } else {
                    if (next >= positional.size()) throw TemplateException.runtime("not enough arguments for format string");
                    value = positional.get(next++);
                }
            }
            String s = convert(type, value, flags, precision);
            if (width > s.length()) {
                int pad = width - s.length();
                if (flags.contains("-")) {
                    s = s + " ".repeat(pad);
                } else if (flags.contains("0") && "diouxXeEfFgG".indexOf(type) >= 0) {
                    int sign = !s.isEmpty() && (s.charAt(0) == '-' || s.charAt(0) == '+' || s.charAt(0) == ' ') ? 1 : 0;
                    s = s.substring(0, sign) + "0".repeat(pad) + s.substring(sign);
                } else {
                    s = " ".repeat(pad) + s;
                }
            }
            out.append(s);
            budget.chars(out.length());
        }
        if (mapping == null && next < positional.size()) {
            throw TemplateException.runtime("not all arguments converted during string formatting");
        }
        return out.toString();
    }

    private static String sign(String digits, boolean negative, String flags) {
        if (negative) return "-" + digits;
        if (flags.contains("+")) return "+" + digits;
        if (flags.contains(" ")) return " " + digits;
        return digits;
    }

    private static String convert(char type, Object v, String flags, int precision) {
        switch (type) {
            case 's' -> {
                String s = Py.str(v);
                return precision >= 0 && precision < s.length() ? s.substring(0, precision) : s;
            }
            case 'r', 'a' -> {
                String s = Py.repr(v);
                return precision >= 0 && precision < s.length() ? s.substring(0, precision) : s;
            }
            case 'c' -> {
                if (v instanceof String s && PyStrings.length(s) == 1) return s;
                return Character.toString((int) Py.toLong(v));
            }
            case 'd', 'i', 'u', 'o', 'x', 'X' -> {
                BigInteger n;
                if (v instanceof Double d) {
                    n = new BigDecimal(d).setScale(0, RoundingMode.DOWN).toBigInteger();
                } else if (Py.isInt(v)) {
                    n = Py.big(v);
                } else {
                    throw TemplateException.runtime("%" + type + " format: a real number is required, not " + Py.typeName(v));
                }
                int radix = type == 'o' ? 8 : (type == 'x' || type == 'X') ? 16 : 10;
                String digits = n.abs().toString(radix);
                if (type == 'X') digits = digits.toUpperCase();
                if (flags.contains("#") && radix != 10) digits = (radix == 8 ? "0o" : type == 'X' ? "0X" : "0x") + digits;
                return sign(digits, n.signum() < 0, flags);
            }
            case 'e', 'E', 'f', 'F', 'g', 'G' -> {
                double d = Py.toDouble(v);
                int p = precision < 0 ? 6 : precision;
                String s;
                if (Double.isNaN(d)) {
                    s = "nan";
                } else if (Double.isInfinite(d)) {
                    s = "inf";
                } else if (type == 'f' || type == 'F') {
                    s = new BigDecimal(Math.abs(d)).setScale(p, RoundingMode.HALF_EVEN).toPlainString();
                } else if (type == 'e' || type == 'E') {
                    s = String.format("%." + p + "e", Math.abs(d));
                } else {
                    s = general(Math.abs(d), p == 0 ? 1 : p, flags.contains("#"));
                }
                if (Character.isUpperCase(type)) s = s.toUpperCase();
                return sign(s, d < 0 || (d == 0 && 1 / d < 0), flags);
            }
            default -> throw TemplateException.runtime("unsupported format character '" + type + "'");
        }
    }

    /** %g: precision significant digits, fixed or exponent notation as C chooses, trailing zeros dropped. */
    private static String general(double d, int p, boolean keepZeros) {
        if (d == 0) return keepZeros ? "0." + "0".repeat(p - 1) : "0";
        BigDecimal bd = new BigDecimal(d).round(new java.math.MathContext(p, RoundingMode.HALF_EVEN));
        int exp = bd.precision() - bd.scale() - 1;
        String s;
        if (exp < -4 || exp >= p) {
            s = String.format("%." + (p - 1) + "e", d);
            if (!keepZeros) {
                int e = s.indexOf('e');
                String mantissa = s.substring(0, e);
                if (mantissa.contains(".")) mantissa = mantissa.replaceAll("0+$", "").replaceAll("\\.$", "");
                s = mantissa + s.substring(e);
            }
        } else {
            s = bd.setScale(Math.max(0, p - 1 - exp), RoundingMode.HALF_EVEN).toPlainString();
            if (!keepZeros && s.contains(".")) s = s.replaceAll("0+$", "").replaceAll("\\.$", "");
        }
        return s;
    }
}
