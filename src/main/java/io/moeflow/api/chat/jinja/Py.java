package io.moeflow.api.chat.jinja;

import java.math.BigDecimal;
import java.math.BigInteger;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/**
 * Python's semantics for the values a template handles (what jinja2 inherits from Python): truth, str() and
 * repr(), equality and ordering, len(), iteration, arithmetic. Values are String, Boolean, Long (BigInteger past
 * 64 bits), Double, {@link #NONE}, {@link PyList}, {@link PyDict}, {@link Undefined}, {@link Namespace},
 * {@link PyCallable}. Java null is never a value.
 */
final class Py {
    private Py() {}

    /** Python's None. */
    static final Object NONE = new Object() {
        @Override
        public String toString() {
            return "None";
        }
    };

    static Object intValue(BigInteger b) {
        return b.bitLength() < 64 ? (Object) b.longValue() : b;
    }

    static boolean isInt(Object o) {
        return o instanceof Long || o instanceof BigInteger || o instanceof Boolean;
    }

    static boolean isNumber(Object o) {
        return isInt(o) || o instanceof Double;
    }

    static BigInteger big(Object o) {
        if (o instanceof BigInteger b) return b;
        if (o instanceof Boolean b) return b ? BigInteger.ONE : BigInteger.ZERO;
        return BigInteger.valueOf((Long) o);
    }

    static long toLong(Object o) {
        if (o instanceof Long l) return l;
        if (o instanceof Boolean b) return b ? 1 : 0;
        if (o instanceof BigInteger b) {
            if (b.bitLength() >= 64) throw TemplateException.runtime("Python int too large to convert to C ssize_t");
            return b.longValue();
        }
        throw TemplateException.runtime("'" + typeName(o) + "' object cannot be interpreted as an integer");
    }

    static double toDouble(Object o) {
        if (o instanceof Double d) return d;
        if (o instanceof Long l) return l;
        if (o instanceof Boolean b) return b ? 1 : 0;
        if (o instanceof BigInteger b) return b.doubleValue();
        throw TemplateException.runtime("must be real number, not " + typeName(o));
    }

    static String typeName(Object o) {
        if (o instanceof String) return "str";
        if (o instanceof Boolean) return "bool";
        if (o instanceof Long || o instanceof BigInteger) return "int";
        if (o instanceof Double) return "float";
        if (o == NONE) return "NoneType";
        if (o instanceof PyList l) return l.tuple ? "tuple" : "list";
        if (o instanceof PyDict) return "dict";
        if (o instanceof Undefined) return "Undefined";
        if (o instanceof Namespace) return "Namespace";
        if (o instanceof Interpreter.Macro) return "Macro";
        if (o instanceof Interpreter.Loop) return "LoopContext";
        if (o instanceof PyCallable) return "function";
        return o.getClass().getSimpleName();
    }

    static boolean truthy(Object o) {
        if (o instanceof Boolean b) return b;
        if (o instanceof String s) return !s.isEmpty();
        if (o instanceof Long l) return l != 0;
        if (o instanceof Double d) return d != 0;
        if (o instanceof BigInteger b) return b.signum() != 0;
        if (o == NONE || o instanceof Undefined) return false;
        if (o instanceof PyList l) return !l.items.isEmpty();
        if (o instanceof PyDict d) return d.size() > 0;
        return true;
    }

    /** Python's str(). */
    static String str(Object o) {
        if (o instanceof String s) return s;
        if (o instanceof Undefined) return "";
        if (o instanceof Boolean b) return b ? "True" : "False";
        if (o instanceof Long || o instanceof BigInteger) return o.toString();
        if (o instanceof Double d) return floatRepr(d);
        if (o == NONE) return "None";
        return repr(o);
    }

    static String repr(Object o) {
        StringBuilder out = new StringBuilder();
        repr(o, out, 0);
        return out.toString();
    }

    private static void repr(Object o, StringBuilder out, int depth) {
        if (depth > 200) throw TemplateException.limit("a value is nested too deeply to print");
        if (o instanceof String s) {
            stringRepr(s, out);
        } else if (o instanceof PyList l) {
            out.append(l.tuple ? '(' : '[');
            for (int i = 0; i < l.items.size(); i++) {
                if (i > 0) out.append(", ");
                repr(l.items.get(i), out, depth + 1);
            }
            if (l.tuple && l.items.size() == 1) out.append(',');
            out.append(l.tuple ? ')' : ']');
        } else if (o instanceof PyDict d) {
            out.append('{');
            boolean first = true;
            for (Map.Entry<Object, Object> e : d.map.entrySet()) {
                if (!first) out.append(", ");
                first = false;
                repr(e.getKey(), out, depth + 1);
                out.append(": ");
                repr(e.getValue(), out, depth + 1);
            }
            out.append('}');
        } else if (o instanceof Undefined) {
            out.append("Undefined");
        } else if (o instanceof Namespace ns) {
            out.append("<Namespace ");
            repr(new PyDict(new java.util.LinkedHashMap<>(ns.attributes)), out, depth + 1);
            out.append('>');
        } else if (o instanceof Interpreter.Macro m) {
            out.append("<Macro '").append(m.name()).append("'>");
        } else if (o instanceof PyCallable) {
            out.append("<function>");
        } else if (o instanceof Interpreter.Loop) {
            out.append("<LoopContext>");
        } else {
            out.append(str(o));
        }
    }

    /** repr() of a str: single quotes unless it holds ' and no ", Python's escapes for unprintable characters. */
    static void stringRepr(String s, StringBuilder out) {
        char quote = s.indexOf('\'') >= 0 && s.indexOf('"') < 0 ? '"' : '\'';
        out.append(quote);
        for (int i = 0; i < s.length(); ) {
            int c = s.codePointAt(i);
            i += Character.charCount(c);
            if (c == quote || c == '\\') {
                out.append('\\').appendCodePoint(c);
            } else if (c == '\t') {
                out.append("\\t");
            } else if (c == '\n') {
                out.append("\\n");
            } else if (c == '\r') {
                out.append("\\r");
            } else if (c < 0x20 || c == 0x7f || !printable(c)) {
                if (c < 0x100) out.append(String.format("\\x%02x", c));
                else if (c < 0x10000) out.append(String.format("\\u%04x", c));
                else out.append(String.format("\\U%08x", c));
            } else {
                out.appendCodePoint(c);
            }
        }
        out.append(quote);
    }

    /** str.isprintable() for one code point: not Other (Cc, Cf, Cs, Co, Cn) and not a separator but space. */
    private static boolean printable(int c) {
        if (c == ' ') return true;
        return switch (Character.getType(c)) {
            case Character.CONTROL, Character.FORMAT, Character.SURROGATE, Character.PRIVATE_USE, Character.UNASSIGNED,
                 Character.LINE_SEPARATOR, Character.PARAGRAPH_SEPARATOR, Character.SPACE_SEPARATOR -> false;
            default -> true;
        };
    }

    /** repr() of a float: the shortest digits that round-trip, Python's choice of fixed or exponent notation. */
    static String floatRepr(double d) {
        if (Double.isNaN(d)) return "nan";
        if (Double.isInfinite(d)) return d > 0 ? "inf" : "-inf";
        if (d == 0) return 1 / d < 0 ? "-0.0" : "0.0";
        BigDecimal bd = new BigDecimal(Double.toString(Math.abs(d))).stripTrailingZeros();
        String digits = bd.unscaledValue().toString();
        int exp = digits.length() - 1 - bd.scale();
        StringBuilder out = new StringBuilder();
        if (d < 0) out.append('-');
        if (exp < -4 || exp >= 16) {
            out.append(digits.charAt(0));
            if (digits.length() > 1) out.append('.').append(digits, 1, digits.length());
            out.append('e').append(exp < 0 ? '-' : '+');
            int a = Math.abs(exp);
            if (a < 10) out.append('0');
            out.append(a);
        } else if (exp >= 0) {
            if (digits.length() <= exp + 1) {
                out.append(digits).append("0".repeat(exp + 1 - digits.length())).append(".0");
            } else {
                out.append(digits, 0, exp + 1).append('.').append(digits, exp + 1, digits.length());
            }
        } else {
            out.append("0.").append("0".repeat(-exp - 1)).append(digits);
        }
        return out.toString();
    }

    static boolean eq(Object a, Object b) {
        if (a == b) return true;
        if (isNumber(a) && isNumber(b)) return numCompare(a, b) == 0;
        if (a instanceof String s) return s.equals(b);
        if (a instanceof PyList x && b instanceof PyList y) {
            if (x.tuple != y.tuple || x.size() != y.size()) return false;
            for (int i = 0; i < x.size(); i++) {
                if (!eq(x.items.get(i), y.items.get(i))) return false;
            }
            return true;
        }
        if (a instanceof PyDict x && b instanceof PyDict y) {
            if (x.size() != y.size()) return false;
            for (Map.Entry<Object, Object> e : x.map.entrySet()) {
                Object other = y.get(e.getKey());
                if (other == null || !eq(e.getValue(), other)) return false;
            }
            return true;
        }
        return a instanceof Undefined && b instanceof Undefined;
    }

    private static int numCompare(Object a, Object b) {
        if (a instanceof Double || b instanceof Double) {
            double x = toDouble(a);
            double y = toDouble(b);
            if (Double.isNaN(x) || Double.isNaN(y)) return 2; // unordered: neither equal nor less
            return Double.compare(x == 0 ? 0.0 : x, y == 0 ? 0.0 : y);
        }
        if (a instanceof Long x && b instanceof Long y) return Long.compare(x, y);
        return big(a).compareTo(big(b));
    }

    /** a < b (op "<"), a <= b, a > b, a >= b with Python's rules; mixed types are a TypeError. */
    static boolean compare(String op, Object a, Object b) {
        if (a instanceof Undefined u) throw u.error();
        if (b instanceof Undefined u) throw u.error();
        int c;
        if (isNumber(a) && isNumber(b)) {
            c = numCompare(a, b);
            if (c == 2) return false;
        } else if (a instanceof String x && b instanceof String y) {
            c = compareCodePoints(x, y);
        } else if (a instanceof PyList x && b instanceof PyList y && x.tuple == y.tuple) {
            int n = Math.min(x.size(), y.size());
            for (int i = 0; i < n; i++) {
                if (!eq(x.items.get(i), y.items.get(i))) return compare(op, x.items.get(i), y.items.get(i));
            }
            c = Integer.compare(x.size(), y.size());
        } else {
            throw TemplateException.runtime("'" + op + "' not supported between instances of '" + typeName(a) + "' and '" + typeName(b) + "'");
        }
        return switch (op) {
            case "<" -> c < 0;
            case "<=" -> c <= 0;
            case ">" -> c > 0;
            default -> c >= 0;
        };
    }

    /** An ordering for sorting (the same rules as compare). */
    static int order(Object a, Object b) {
        if (eq(a, b)) return 0;
        return compare("<", a, b) ? -1 : 1;
    }

    static int compareCodePoints(String x, String y) {
        int i = 0;
        int j = 0;
        while (i < x.length() && j < y.length()) {
            int a = x.codePointAt(i);
            int b = y.codePointAt(j);
            if (a != b) return Integer.compare(a, b);
            i += Character.charCount(a);
            j += Character.charCount(b);
        }
        return Integer.compare(x.length() - i, y.length() - j);
    }

    static long len(Object o) {
        if (o instanceof String s) return PyStrings.length(s);
        if (o instanceof PyList l) return l.size();
        if (o instanceof PyDict d) return d.size();
        if (o instanceof Undefined) return 0;
        if (o instanceof Namespace ns) return ns.attributes.size();
        throw TemplateException.runtime("object of type '" + typeName(o) + "' has no len()");
    }

    /** The items a for loop sees: characters of a str, items of a list, keys of a dict, nothing for Undefined. */
    static List<Object> iterate(Object o) {
        if (o instanceof PyList l) return new ArrayList<>(l.items);
        if (o instanceof PyDict d) return new ArrayList<>(d.map.keySet());
        if (o instanceof String s) {
            List<Object> chars = new ArrayList<>(s.length());
            s.codePoints().forEach(c -> chars.add(Character.toString(c)));
            return chars;
        }
        if (o instanceof Undefined) return new ArrayList<>();
        throw TemplateException.runtime("'" + typeName(o) + "' object is not iterable");
    }

    static boolean contains(Object container, Object item) {
        if (container instanceof String s) {
            if (!(item instanceof String sub)) {
                if (item instanceof Undefined u) throw u.error();
                throw TemplateException.runtime("'in <string>' requires string as left operand, not " + typeName(item));
            }
            return s.contains(sub);
        }
        if (container instanceof PyList l) {
            for (Object x : l.items) {
                if (eq(x, item)) return true;
            }
            return false;
        }
        if (container instanceof PyDict d) return d.containsKey(item);
        if (container instanceof Undefined) return false;
        throw TemplateException.runtime("argument of type '" + typeName(container) + "' is not iterable");
    }

    private static TemplateException operandError(String op, Object a, Object b) {
        if (a instanceof Undefined u) return u.error();
        if (b instanceof Undefined u) return u.error();
        if (op.equals("+") && a instanceof String) {
            return TemplateException.runtime("can only concatenate str (not \"" + typeName(b) + "\") to str");
        }
        if (op.equals("+") && a instanceof PyList l && !l.tuple) {
            return TemplateException.runtime("can only concatenate list (not \"" + typeName(b) + "\") to list");
        }
        return TemplateException.runtime("unsupported operand type(s) for " + op + ": '" + typeName(a) + "' and '" + typeName(b) + "'");
    }

    static Object add(Object a, Object b, Budget budget) {
        if (isNumber(a) && isNumber(b)) {
            if (a instanceof Double || b instanceof Double) return toDouble(a) + toDouble(b);
            if (a instanceof Long x && b instanceof Long y) {
                long r = x + y;
                if (((x ^ r) & (y ^ r)) >= 0) return r;
            }
            return intValue(big(a).add(big(b)));
        }
        if (a instanceof String x && b instanceof String y) {
            budget.chars((long) x.length() + y.length());
            return x + y;
        }
        if (a instanceof PyList x && b instanceof PyList y && x.tuple == y.tuple) {
            budget.items((long) x.size() + y.size());
            List<Object> items = new ArrayList<>(x.items);
            items.addAll(y.items);
            return new PyList(x.tuple ? List.copyOf(items) : items, x.tuple);
        }
        throw operandError("+", a, b);
    }

    static Object sub(Object a, Object b) {
        if (isNumber(a) && isNumber(b)) {
            if (a instanceof Double || b instanceof Double) return toDouble(a) - toDouble(b);
            if (a instanceof Long x && b instanceof Long y) {
                long r = x - y;
                if (((x ^ y) & (x ^ r)) >= 0) return r;
            }
            return intValue(big(a).subtract(big(b)));
        }
        throw operandError("-", a, b);
    }

    static Object mul(Object a, Object b, Budget budget) {
        if (isNumber(a) && isNumber(b)) {
            if (a instanceof Double || b instanceof Double) return toDouble(a) * toDouble(b);
            BigInteger r = big(a).multiply(big(b));
            budget.chars(r.bitLength() / 3);
            return intValue(r);
        }
        if (a instanceof String s && isInt(b)) return repeat(s, toLong(b), budget);
        if (isInt(a) && b instanceof String s) return repeat(s, toLong(a), budget);
        if (a instanceof PyList l && isInt(b)) return repeat(l, toLong(b), budget);
        if (isInt(a) && b instanceof PyList l) return repeat(l, toLong(a), budget);
        throw operandError("*", a, b);
    }

    private static String repeat(String s, long n, Budget budget) {
        if (n <= 0 || s.isEmpty()) return "";
        budget.chars(s.length() * Math.min(n, Integer.MAX_VALUE));
        return s.repeat((int) n);
    }

    private static PyList repeat(PyList l, long n, Budget budget) {
        List<Object> items = new ArrayList<>();
        if (n > 0 && !l.items.isEmpty()) {
            budget.items(l.size() * Math.min(n, Integer.MAX_VALUE));
            for (long i = 0; i < n; i++) items.addAll(l.items);
        }
        return new PyList(l.tuple ? List.copyOf(items) : items, l.tuple);
    }

    static Object truediv(Object a, Object b) {
        if (!isNumber(a) || !isNumber(b)) throw operandError("/", a, b);
        double y = toDouble(b);
        if (y == 0) throw TemplateException.runtime("division by zero");
        return toDouble(a) / y;
    }

    static Object floordiv(Object a, Object b) {
        if (!isNumber(a) || !isNumber(b)) throw operandError("//", a, b);
        if (a instanceof Double || b instanceof Double) {
            double y = toDouble(b);
            if (y == 0) throw TemplateException.runtime("float floor division by zero");
            return Math.floor(toDouble(a) / y);
        }
        if (big(b).signum() == 0) throw TemplateException.runtime("integer division or modulo by zero");
        if (a instanceof Long x && b instanceof Long y && !(x == Long.MIN_VALUE && y == -1)) return Math.floorDiv(x, y);
        BigInteger[] qr = big(a).divideAndRemainder(big(b));
        BigInteger q = qr[0];
        if (qr[1].signum() != 0 && qr[1].signum() != big(b).signum()) q = q.subtract(BigInteger.ONE);
        return intValue(q);
    }

    static Object mod(Object a, Object b, Budget budget) {
        if (a instanceof String format) return PyFormat.percent(format, b, budget);
        if (!isNumber(a) || !isNumber(b)) throw operandError("%", a, b);
        if (a instanceof Double || b instanceof Double) {
            double x = toDouble(a);
            double y = toDouble(b);
            if (y == 0) throw TemplateException.runtime("float modulo");
            double r = x % y;
            if (r != 0 && (r < 0) != (y < 0)) r += y;
            return r;
        }
        if (big(b).signum() == 0) throw TemplateException.runtime("integer division or modulo by zero");
        if (a instanceof Long x && b instanceof Long y) return Math.floorMod(x, y);
        BigInteger r = big(a).mod(big(b).abs());
        if (big(b).signum() < 0 && r.signum() != 0) r = r.add(big(b));
        return intValue(r);
    }

    static Object pow(Object a, Object b, Budget budget) {
        if (!isNumber(a) || !isNumber(b)) throw operandError("**", a, b);
        if (a instanceof Double || b instanceof Double || big(b).signum() < 0) {
            double x = toDouble(a);
            double y = toDouble(b);
            if (x == 0 && y < 0) throw TemplateException.runtime("0.0 cannot be raised to a negative power");
            return Math.pow(x, y);
        }
        BigInteger base = big(a);
        long exp = toLong(b);
        if (base.abs().compareTo(BigInteger.ONE) > 0) budget.chars((long) (exp * base.bitLength() * 0.302));
        return intValue(base.pow((int) Math.min(exp, Integer.MAX_VALUE)));
    }

    static Object neg(Object a) {
        if (a instanceof Double d) return -d;
        if (a instanceof Long l && l != Long.MIN_VALUE) return -l;
        if (isInt(a)) return intValue(big(a).negate());
        if (a instanceof Undefined u) throw u.error();
        throw TemplateException.runtime("bad operand type for unary -: '" + typeName(a) + "'");
    }

    static Object pos(Object a) {
        if (a instanceof Boolean b) return b ? 1L : 0L;
        if (isNumber(a)) return a;
        if (a instanceof Undefined u) throw u.error();
        throw TemplateException.runtime("bad operand type for unary +: '" + typeName(a) + "'");
    }
}
