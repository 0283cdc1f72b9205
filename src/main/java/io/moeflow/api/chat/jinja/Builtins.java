package io.moeflow.api.chat.jinja;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.json.JsonMapper;
import java.math.BigDecimal;
import java.math.BigInteger;
import java.math.RoundingMode;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.Function;

/**
 * jinja2's filters and tests, the Python methods of str, list and dict that templates call, and the global
 * functions, each with jinja2's (or Python's) signature and results. Filters and tests are found by name only;
 * there is no way from a template to any other Java object or method.
 */
final class Builtins {
    private Builtins() {}

    private static final JsonMapper JSON = JsonMapper.builder().build();
    private static final Object REQUIRED = new Object();

    /** Python-style argument binding: positional then keyword, defaults, errors naming the function. */
    private static Object[] bind(String function, List<Object> args, Map<String, Object> kwargs, String[] names, Object... defaults) {
        if (args.size() > names.length) {
            throw TemplateException.runtime(function + "() takes at most " + names.length + " arguments (" + args.size() + " given)");
        }
        Object[] values = new Object[names.length];
        for (int i = 0; i < args.size(); i++) values[i] = args.get(i);
        for (Map.Entry<String, Object> e : kwargs.entrySet()) {
            int i = Arrays.asList(names).indexOf(e.getKey());
            if (i < 0) throw TemplateException.runtime(function + "() got an unexpected keyword argument '" + e.getKey() + "'");
            if (values[i] != null) throw TemplateException.runtime(function + "() got multiple values for argument '" + e.getKey() + "'");
            values[i] = e.getValue();
        }
        for (int i = 0; i < names.length; i++) {
            if (values[i] == null) {
                if (defaults[i] == REQUIRED) throw TemplateException.runtime(function + "() missing required argument '" + names[i] + "'");
                values[i] = defaults[i];
            }
        }
        return values;
    }

    private static String[] n(String... names) {
        return names;
    }

    private static void noArgs(String function, List<Object> args, Map<String, Object> kwargs) {
        if (!args.isEmpty() || !kwargs.isEmpty()) throw TemplateException.runtime(function + "() takes no arguments");
    }

    private static String string(Object v, String what) {
        if (v instanceof String s) return s;
        if (v instanceof Undefined u) throw u.error();
        throw TemplateException.runtime(what + " must be str, not " + Py.typeName(v));
    }

    private static PyList list(List<Object> items) {
        return new PyList(items, false);
    }

    // ---- attributes and methods ------------------------------------------------------------------------

    /** The attribute or bound method {@code name} of obj as jinja2's sandbox exposes it, or null. */
    static Object attribute(Object obj, String name, Interpreter in) {
        if (name.startsWith("_")) return null;
        if (obj instanceof Namespace ns) return ns.attributes.get(name);
        if (obj instanceof Interpreter.Loop loop) return loop.attribute(name);
        if (obj instanceof Interpreter.Macro m) return name.equals("name") ? m.name() : null;
        if (obj instanceof Cycler c) return c.attribute(name);
        return method(obj, name);
    }

    private static PyCallable method(Object obj, String name) {
        if (obj instanceof String s) return stringMethod(s, name);
        if (obj instanceof PyDict d) return dictMethod(d, name);
        if (obj instanceof PyList l) return listMethod(l, name);
        return null;
    }

    private static PyCallable stringMethod(String s, String name) {
        return switch (name) {
            case "upper" -> (in, a, k) -> { noArgs(name, a, k); return PyStrings.upper(s); };
            case "lower", "casefold" -> (in, a, k) -> { noArgs(name, a, k); return PyStrings.lower(s); };
            case "title" -> (in, a, k) -> { noArgs(name, a, k); return PyStrings.title(s); };
            case "capitalize" -> (in, a, k) -> { noArgs(name, a, k); return PyStrings.capitalize(s); };
            case "swapcase" -> (in, a, k) -> {
                noArgs(name, a, k);
                StringBuilder out = new StringBuilder();
                s.codePoints().forEach(c -> out.appendCodePoint(Character.isUpperCase(c) ? Character.toLowerCase(c)
                        : Character.isLowerCase(c) ? Character.toUpperCase(c) : c));
                return out.toString();
            };
            case "strip", "lstrip", "rstrip" -> (in, a, k) -> {
                Object chars = bind(name, a, k, n("chars"), Py.NONE)[0];
                String cs = chars == Py.NONE ? null : string(chars, name + " arg");
                return name.equals("strip") ? PyStrings.strip(s, cs) : name.equals("lstrip") ? PyStrings.lstrip(s, cs) : PyStrings.rstrip(s, cs);
            };
            case "split", "rsplit" -> (in, a, k) -> {
                Object[] v = bind(name, a, k, n("sep", "maxsplit"), Py.NONE, -1L);
                String sep = v[0] == Py.NONE ? null : string(v[0], "separator");
                long max = Py.toLong(v[1]);
                return list(name.equals("split") ? PyStrings.split(s, sep, max) : PyStrings.rsplit(s, sep, max));
            };
            case "splitlines" -> (in, a, k) -> list(PyStrings.splitlines(s, Py.truthy(bind(name, a, k, n("keepends"), false)[0])));
            case "startswith", "endswith" -> (in, a, k) -> {
                Object[] v = bind(name, a, k, n("prefix", "start", "end"), REQUIRED, Py.NONE, Py.NONE);
                String sub = substring(s, v[1], v[2]);
                List<Object> options = v[0] instanceof PyList l && l.tuple ? l.items : List.of(v[0]);
                for (Object o : options) {
                    String p = string(o, name + " first arg");
                    if (name.equals("startswith") ? sub.startsWith(p) : sub.endsWith(p)) return true;
                }
                return false;
            };
            case "replace" -> (in, a, k) -> {
                Object[] v = bind(name, a, k, n("old", "new", "count"), REQUIRED, REQUIRED, -1L);
                return PyStrings.replace(s, string(v[0], "replace() argument 1"), string(v[1], "replace() argument 2"), Py.toLong(v[2]), in.budget);
            };
            case "find", "rfind", "index", "rindex" -> (in, a, k) -> {
                Object[] v = bind(name, a, k, n("sub", "start", "end"), REQUIRED, Py.NONE, Py.NONE);
                long offset = v[1] == Py.NONE ? 0 : clampIndex(Py.toLong(v[1]), PyStrings.length(s));
                long r = PyStrings.find(substring(s, v[1], v[2]), string(v[0], "sub"), name.contains("r"));
                if (r < 0 && name.endsWith("index")) throw TemplateException.runtime("substring not found");
                return r < 0 ? -1L : r + offset;
            };
            case "count" -> (in, a, k) -> PyStrings.count(s, string(bind(name, a, k, n("sub"), REQUIRED)[0], "sub"));
            case "join" -> (in, a, k) -> {
                StringBuilder out = new StringBuilder();
                List<Object> items = Py.iterate(bind(name, a, k, n("iterable"), REQUIRED)[0]);
                for (int i = 0; i < items.size(); i++) {
                    if (i > 0) out.append(s);
                    out.append(string(items.get(i), "sequence item " + i));
                    in.budget.chars(out.length());
                }
                return out.toString();
            };
            case "center", "ljust", "rjust" -> (in, a, k) -> {
                Object[] v = bind(name, a, k, n("width", "fillchar"), REQUIRED, " ");
                long width = Py.toLong(v[0]);
                in.budget.chars(width);
                String fill = string(v[1], "fill character");
                int len = PyStrings.length(s);
                if (width <= len) return s;
                String pad = fill.repeat((int) (width - len));
                return switch (name) {
                    case "center" -> PyStrings.center(s, (int) width, fill);
                    case "ljust" -> s + pad;
                    default -> pad + s;
                };
            };
            case "zfill" -> (in, a, k) -> {
                long width = Py.toLong(bind(name, a, k, n("width"), REQUIRED)[0]);
                in.budget.chars(width);
                int len = PyStrings.length(s);
                if (width <= len) return s;
                int sign = !s.isEmpty() && (s.charAt(0) == '-' || s.charAt(0) == '+') ? 1 : 0;
                return s.substring(0, sign) + "0".repeat((int) (width - len)) + s.substring(sign);
            };
            case "partition", "rpartition" -> (in, a, k) -> {
                String sep = string(bind(name, a, k, n("sep"), REQUIRED)[0], "sep");
                if (sep.isEmpty()) throw TemplateException.runtime("empty separator");
                int i = name.equals("partition") ? s.indexOf(sep) : s.lastIndexOf(sep);
                if (i < 0) return name.equals("partition") ? PyList.tuple(s, "", "") : PyList.tuple("", "", s);
                return PyList.tuple(s.substring(0, i), sep, s.substring(i + sep.length()));
            };
            case "removeprefix", "removesuffix" -> (in, a, k) -> {
                String x = string(bind(name, a, k, n("affix"), REQUIRED)[0], name + " arg");
                if (name.equals("removeprefix")) return s.startsWith(x) ? s.substring(x.length()) : s;
                return s.endsWith(x) && !x.isEmpty() ? s.substring(0, s.length() - x.length()) : s;
            };
            case "isdigit", "isdecimal", "isnumeric" -> (in, a, k) -> {
                noArgs(name, a, k);
                return !s.isEmpty() && s.codePoints().allMatch(Character::isDigit);
            };
            case "isalpha" -> (in, a, k) -> { noArgs(name, a, k); return !s.isEmpty() && s.codePoints().allMatch(Character::isLetter); };
            case "isalnum" -> (in, a, k) -> { noArgs(name, a, k); return !s.isEmpty() && s.codePoints().allMatch(Character::isLetterOrDigit); };
            case "isspace" -> (in, a, k) -> { noArgs(name, a, k); return PyStrings.isAllSpace(s, 0); };
            case "isascii" -> (in, a, k) -> { noArgs(name, a, k); return s.chars().allMatch(c -> c < 128); };
            case "islower" -> (in, a, k) -> { noArgs(name, a, k); return isLower(s); };
            case "isupper" -> (in, a, k) -> { noArgs(name, a, k); return isUpper(s); };
            case "istitle" -> (in, a, k) -> { noArgs(name, a, k); return !s.isEmpty() && PyStrings.title(s).equals(s) && !isLower(s.toUpperCase()); };
            case "format" -> (in, a, k) -> {
                throw TemplateException.runtime("str.format is not supported in chat templates; use the format filter or ~");
            };
            default -> null;
        };
    }

    private static boolean isLower(String s) {
        return allCased(s, false);
    }

    private static boolean isUpper(String s) {
        return allCased(s, true);
    }

    /** str.isupper() / str.islower(): some cased character, and every cased one in that case. */
    private static boolean allCased(String s, boolean upper) {
        boolean cased = false;
        for (int i = 0; i < s.length(); ) {
            int c = s.codePointAt(i);
            i += Character.charCount(c);
            if ((upper ? Character.isLowerCase(c) : Character.isUpperCase(c)) || Character.isTitleCase(c)) return false;
            if (upper ? Character.isUpperCase(c) : Character.isLowerCase(c)) cased = true;
        }
        return cased;
    }

    private static long clampIndex(long i, int len) {
        if (i < 0) i += len;
        return Math.max(0, Math.min(len, i));
    }

    /** s[start:end] with Python's index rules (for startswith, find, ...). */
    private static String substring(String s, Object start, Object end) {
        if (start == Py.NONE && end == Py.NONE) return s;
        int[] cps = PyStrings.codePoints(s);
        long from = start == Py.NONE ? 0 : clampIndex(Py.toLong(start), cps.length);
        long to = end == Py.NONE ? cps.length : clampIndex(Py.toLong(end), cps.length);
        return PyStrings.fromCodePoints(cps, (int) from, (int) Math.max(from, to));
    }

    private static PyCallable dictMethod(PyDict d, String name) {
        return switch (name) {
            case "get" -> (in, a, k) -> {
                Object[] v = bind(name, a, k, n("key", "default"), REQUIRED, Py.NONE);
                Object x = d.get(v[0]);
                return x != null ? x : v[1];
            };
            case "items" -> (in, a, k) -> {
                noArgs(name, a, k);
                List<Object> items = new ArrayList<>();
                for (Map.Entry<Object, Object> e : d.map.entrySet()) items.add(PyList.tuple(e.getKey(), e.getValue()));
                return list(items);
            };
            case "keys" -> (in, a, k) -> { noArgs(name, a, k); return list(new ArrayList<>(d.map.keySet())); };
            case "values" -> (in, a, k) -> { noArgs(name, a, k); return list(new ArrayList<>(d.map.values())); };
            case "copy" -> (in, a, k) -> { noArgs(name, a, k); return new PyDict(new LinkedHashMap<>(d.map)); };
            case "pop" -> (in, a, k) -> {
                Object[] v = bind(name, a, k, n("key", "default"), REQUIRED, REQUIRED_OR_MISSING);
                Object x = d.get(v[0]);
                if (x != null) {
                    d.map.remove(d.map.containsKey(v[0]) ? v[0] : PyDict.key(v[0]));
                    return x;
                }
                if (v[1] == REQUIRED_OR_MISSING) throw TemplateException.runtime("KeyError: " + Py.repr(v[0]));
                return v[1];
            };
            case "setdefault" -> (in, a, k) -> {
                Object[] v = bind(name, a, k, n("key", "default"), REQUIRED, Py.NONE);
                Object x = d.get(v[0]);
                if (x != null) return x;
                in.budget.items(d.size() + 1L);
                d.put(v[0], v[1]);
                return v[1];
            };
            case "update" -> (in, a, k) -> {
                if (a.size() > 1) throw TemplateException.runtime("update expected at most 1 argument");
                PyDict other = a.isEmpty() ? new PyDict() : dict(a, Map.of());
                in.budget.items((long) d.size() + other.size() + k.size());
                other.map.forEach(d::put);
                k.forEach(d::put);
                return Py.NONE;
            };
            default -> null;
        };
    }

    private static final Object REQUIRED_OR_MISSING = new Object();

    private static PyCallable listMethod(PyList l, String name) {
        PyCallable mutating = switch (name) {
            case "append" -> (in, a, k) -> {
                Object x = bind(name, a, k, n("object"), REQUIRED)[0];
                in.budget.items(l.size() + 1L);
                l.items.add(x);
                return Py.NONE;
            };
            case "extend" -> (in, a, k) -> {
                List<Object> xs = Py.iterate(bind(name, a, k, n("iterable"), REQUIRED)[0]);
                in.budget.items((long) l.size() + xs.size());
                l.items.addAll(xs);
                return Py.NONE;
            };
            case "insert" -> (in, a, k) -> {
                Object[] v = bind(name, a, k, n("index", "object"), REQUIRED, REQUIRED);
                in.budget.items(l.size() + 1L);
                l.items.add((int) clampIndex(Py.toLong(v[0]), l.size()), v[1]);
                return Py.NONE;
            };
            case "pop" -> (in, a, k) -> {
                long i = Py.toLong(bind(name, a, k, n("index"), -1L)[0]);
                if (l.items.isEmpty()) throw TemplateException.runtime("pop from empty list");
                if (i < 0) i += l.size();
                if (i < 0 || i >= l.size()) throw TemplateException.runtime("pop index out of range");
                return l.items.remove((int) i);
            };
            case "remove" -> (in, a, k) -> {
                Object x = bind(name, a, k, n("value"), REQUIRED)[0];
                for (int i = 0; i < l.size(); i++) {
                    if (Py.eq(l.items.get(i), x)) {
                        l.items.remove(i);
                        return Py.NONE;
                    }
                }
                throw TemplateException.runtime("list.remove(x): x not in list");
            };
            case "reverse" -> (in, a, k) -> { noArgs(name, a, k); java.util.Collections.reverse(l.items); return Py.NONE; };
            case "clear" -> (in, a, k) -> { noArgs(name, a, k); l.items.clear(); return Py.NONE; };
            default -> null;
        };
        if (mutating != null) return l.tuple ? null : mutating;
        return switch (name) {
            case "index" -> (in, a, k) -> {
                Object x = bind(name, a, k, n("value"), REQUIRED)[0];
                for (int i = 0; i < l.size(); i++) {
                    if (Py.eq(l.items.get(i), x)) return (long) i;
                }
                throw TemplateException.runtime(Py.repr(x) + " is not in list");
            };
            case "count" -> (in, a, k) -> {
                Object x = bind(name, a, k, n("value"), REQUIRED)[0];
                return l.items.stream().filter(y -> Py.eq(y, x)).count();
            };
            case "copy" -> l.tuple ? null : (in, a, k) -> { noArgs(name, a, k); return list(new ArrayList<>(l.items)); };
            default -> null;
        };
    }

    // ---- slices, ranges and the other globals ---------------------------------------------------------

    /** obj[start:stop:step] for str, list and tuple (jinja2 slices with Python's own subscript: others fail). */
    static Object slice(Object obj, Object start, Object stop, Object step) {
        if (obj instanceof Undefined u) throw u.error();
        int len;
        int[] cps = null;
        if (obj instanceof String s) {
            cps = PyStrings.codePoints(s);
            len = cps.length;
        } else if (obj instanceof PyList l) {
            len = l.size();
        } else if (obj instanceof PyDict) {
            throw TemplateException.runtime("unhashable type: 'slice'");
        } else {
            throw TemplateException.runtime("'" + Py.typeName(obj) + "' object is not subscriptable");
        }
        for (Object x : new Object[] {start, stop, step}) {
            if (x != Py.NONE && !Py.isInt(x)) throw TemplateException.runtime("slice indices must be integers or None or have an __index__ method");
        }
        long st = step == Py.NONE ? 1 : Py.toLong(step);
        if (st == 0) throw TemplateException.runtime("slice step cannot be zero");
        long lo;
        long hi;
        if (st > 0) {
            lo = start == Py.NONE ? 0 : adjust(Py.toLong(start), len, 0, len);
            hi = stop == Py.NONE ? len : adjust(Py.toLong(stop), len, 0, len);
        } else {
            lo = start == Py.NONE ? len - 1 : adjust(Py.toLong(start), len, -1, len - 1);
            hi = stop == Py.NONE ? -1 : adjust(Py.toLong(stop), len, -1, len - 1);
        }
        List<Integer> idx = new ArrayList<>();
        if (st > 0) {
            for (long i = lo; i < hi; i += st) idx.add((int) i);
        } else {
            for (long i = lo; i > hi; i += st) idx.add((int) i);
        }
        if (cps != null) {
            StringBuilder out = new StringBuilder();
            for (int i : idx) out.appendCodePoint(cps[i]);
            return out.toString();
        }
        PyList l = (PyList) obj;
        List<Object> items = new ArrayList<>(idx.size());
        for (int i : idx) items.add(l.items.get(i));
        return new PyList(l.tuple ? List.copyOf(items) : items, l.tuple);
    }

    private static long adjust(long i, int len, long lower, long upper) {
        if (i < 0) {
            i += len;
            if (i < 0) i = lower;
        } else if (i > upper) {
            i = upper;
        }
        return i;
    }

    static PyList range(List<Object> args, Budget budget) {
        if (args.isEmpty() || args.size() > 3) throw TemplateException.runtime("range expected 1 to 3 arguments, got " + args.size());
        long start = 0;
        long stop;
        long step = 1;
        if (args.size() == 1) {
            stop = Py.toLong(args.get(0));
        } else {
            start = Py.toLong(args.get(0));
            stop = Py.toLong(args.get(1));
            if (args.size() == 3) step = Py.toLong(args.get(2));
        }
        if (step == 0) throw TemplateException.runtime("range() arg 3 must not be zero");
        long count = step > 0 ? (stop > start ? (stop - start + step - 1) / step : 0) : (start > stop ? (start - stop - step - 1) / -step : 0);
        if (count > Budget.MAX_RANGE) {
            throw TemplateException.limit("Range too big. The sandbox blocks ranges larger than MAX_RANGE (" + Budget.MAX_RANGE + ").");
        }
        budget.items(count);
        List<Object> items = new ArrayList<>((int) count);
        for (long i = 0, v = start; i < count; i++, v += step) items.add(v);
        return list(items);
    }

    static PyDict dict(List<Object> args, Map<String, Object> kwargs) {
        PyDict d = new PyDict();
        if (args.size() > 1) throw TemplateException.runtime("dict expected at most 1 argument, got " + args.size());
        if (args.size() == 1) {
            Object a = args.getFirst();
            if (a instanceof PyDict other) {
                other.map.forEach(d::put);
            } else {
                for (Object pair : Py.iterate(a)) {
                    List<Object> kv = Py.iterate(pair);
                    if (kv.size() != 2) throw TemplateException.runtime("dictionary update sequence element has length " + kv.size() + "; 2 is required");
                    d.put(kv.get(0), kv.get(1));
                }
            }
        }
        kwargs.forEach(d::put);
        return d;
    }

    static Namespace namespace(List<Object> args, Map<String, Object> kwargs) {
        Namespace ns = new Namespace();
        for (Map.Entry<Object, Object> e : dict(args, kwargs).map.entrySet()) ns.attributes.put(Py.str(e.getKey()), e.getValue());
        return ns;
    }

    /** jinja2's cycler(*items): next(), reset(), current. */
    static final class Cycler {
        private final List<Object> items;
        private int pos;

        Cycler(List<Object> items) {
            this.items = items;
        }

        Object attribute(String name) {
            return switch (name) {
                case "current" -> items.get(pos);
                case "next" -> (PyCallable) (in, a, k) -> {
                    Object v = items.get(pos);
                    pos = (pos + 1) % items.size();
                    return v;
                };
                case "reset" -> (PyCallable) (in, a, k) -> {
                    pos = 0;
                    return Py.NONE;
                };
                default -> null;
            };
        }
    }

    static Object cycler(List<Object> args) {
        if (args.isEmpty()) throw TemplateException.runtime("at least one item has to be provided");
        return new Cycler(new ArrayList<>(args));
    }

    static PyCallable joiner(List<Object> args, Map<String, Object> kwargs) {
        String sep = Py.str(bind("joiner", args, kwargs, n("sep"), ", ")[0]);
        boolean[] used = {false};
        return (in, a, k) -> {
            if (!used[0]) {
                used[0] = true;
                return "";
            }
            return sep;
        };
    }

    // ---- filters ---------------------------------------------------------------------------------------

    static Object filter(String name, Object value, List<Object> args, Map<String, Object> kwargs, Interpreter in) {
        Marks marks = in.marks;
        switch (name) {
            case "length", "count" -> {
                bind(name, args, kwargs, n());
                return Py.len(value);
            }
            case "string" -> {
                bind(name, args, kwargs, n());
                if (marks != null) marks.markDeep(value);
                return Py.str(value);
            }
            case "safe" -> {
                bind(name, args, kwargs, n());
                return Py.str(value);
            }
            case "tojson" -> {
                if (marks != null) marks.markDeep(value);
                return tojson(value, args, kwargs, in.budget);
            }
            case "from_json" -> {
                bind(name, args, kwargs, n());
                try {
                    return PyJson.fromJson(JSON.readTree(string(value, "from_json input")));
                } catch (JsonProcessingException e) {
                    throw TemplateException.runtime("from_json: not valid JSON: " + e.getOriginalMessage());
                }
            }
            case "trim" -> {
                Object chars = bind(name, args, kwargs, n("chars"), Py.NONE)[0];
                return PyStrings.strip(Py.str(value), chars == Py.NONE ? null : Py.str(chars));
            }
            case "upper" -> {
                bind(name, args, kwargs, n());
                return PyStrings.upper(Py.str(value));
            }
            case "lower" -> {
                bind(name, args, kwargs, n());
                return PyStrings.lower(Py.str(value));
            }
            case "capitalize" -> {
                bind(name, args, kwargs, n());
                return PyStrings.capitalize(Py.str(value));
            }
            case "title" -> {
                bind(name, args, kwargs, n());
                return PyStrings.title(Py.str(value));
            }
            case "default", "d" -> {
                Object[] v = bind(name, args, kwargs, n("default_value", "boolean"), "", false);
                boolean useDefault = value instanceof Undefined || (Py.truthy(v[1]) && !Py.truthy(value));
                return useDefault ? v[0] : value;
            }
            case "join" -> {
                Object[] v = bind(name, args, kwargs, n("d", "attribute"), "", Py.NONE);
                List<Object> items = Py.iterate(value);
                if (v[1] != Py.NONE) items = items.stream().map(attrGetter(v[1], null, in)).toList();
                StringBuilder out = new StringBuilder();
                String sep = Py.str(v[0]);
                for (int i = 0; i < items.size(); i++) {
                    if (i > 0) out.append(sep);
                    out.append(Py.str(items.get(i)));
                    in.budget.chars(out.length());
                }
                return out.toString();
            }
            case "replace" -> {
                Object[] v = bind(name, args, kwargs, n("old", "new", "count"), REQUIRED, REQUIRED, Py.NONE);
                return PyStrings.replace(Py.str(value), Py.str(v[0]), Py.str(v[1]), v[2] == Py.NONE ? -1 : Py.toLong(v[2]), in.budget);
            }
            case "first" -> {
                bind(name, args, kwargs, n());
                List<Object> items = Py.iterate(value);
                return items.isEmpty() ? Undefined.hint("No first item, sequence was empty.") : items.getFirst();
            }
            case "last" -> {
                bind(name, args, kwargs, n());
                if (value instanceof Undefined u) throw u.error();
                List<Object> items = Py.iterate(value);
                return items.isEmpty() ? Undefined.hint("No last item, sequence was empty.") : items.getLast();
            }
            case "list" -> {
                bind(name, args, kwargs, n());
                return list(Py.iterate(value));
            }
            case "reverse" -> {
                bind(name, args, kwargs, n());
                if (value instanceof String s) return new StringBuilder(s).reverse().toString();
                List<Object> items = Py.iterate(value);
                java.util.Collections.reverse(items);
                return list(items);
            }
            case "items" -> {
                bind(name, args, kwargs, n());
                if (value instanceof Undefined) return list(new ArrayList<>());
                if (!(value instanceof PyDict d)) throw TemplateException.runtime("Can only get item pairs from a mapping.");
                if (marks != null) d.map.values().forEach(marks::mark);
                List<Object> items = new ArrayList<>();
                for (Map.Entry<Object, Object> e : d.map.entrySet()) items.add(PyList.tuple(e.getKey(), e.getValue()));
                return list(items);
            }
            case "dictsort" -> {
                Object[] v = bind(name, args, kwargs, n("case_sensitive", "by", "reverse"), false, "key", false);
                if (!(value instanceof PyDict d)) throw TemplateException.runtime("dictsort: a mapping is required");
                String by = Py.str(v[1]);
                if (!by.equals("key") && !by.equals("value")) throw TemplateException.runtime("You can only sort by either \"key\" or \"value\"");
                int pos = by.equals("key") ? 0 : 1;
                boolean cs = Py.truthy(v[0]);
                List<Object> items = new ArrayList<>();
                for (Map.Entry<Object, Object> e : d.map.entrySet()) items.add(PyList.tuple(e.getKey(), e.getValue()));
                Comparator<Object> c = (x, y) -> Py.order(ignoreCase(((PyList) x).items.get(pos), cs), ignoreCase(((PyList) y).items.get(pos), cs));
                items.sort(Py.truthy(v[2]) ? c.reversed() : c);
                return list(items);
            }
            case "sort" -> {
                Object[] v = bind(name, args, kwargs, n("reverse", "case_sensitive", "attribute"), false, false, Py.NONE);
                List<Object> items = Py.iterate(value);
                Function<Object, Object> key = keyFunction(v[2], Py.truthy(v[1]), in);
                Comparator<Object> c = (x, y) -> Py.order(key.apply(x), key.apply(y));
                items.sort(Py.truthy(v[0]) ? c.reversed() : c);
                return list(items);
            }
            case "unique" -> {
                Object[] v = bind(name, args, kwargs, n("case_sensitive", "attribute"), false, Py.NONE);
                Function<Object, Object> key = keyFunction(v[1], Py.truthy(v[0]), in);
                List<Object> out = new ArrayList<>();
                List<Object> seen = new ArrayList<>();
                for (Object x : Py.iterate(value)) {
                    Object kx = key.apply(x);
                    if (seen.stream().noneMatch(s -> Py.eq(s, kx))) {
                        seen.add(kx);
                        out.add(x);
                    }
                }
                return list(out);
            }
            case "min", "max" -> {
                Object[] v = bind(name, args, kwargs, n("case_sensitive", "attribute"), false, Py.NONE);
                Function<Object, Object> key = keyFunction(v[1], Py.truthy(v[0]), in);
                List<Object> items = Py.iterate(value);
                if (items.isEmpty()) return Undefined.hint("No aggregated item, sequence was empty.");
                Object best = items.getFirst();
                for (Object x : items.subList(1, items.size())) {
                    int c = Py.order(key.apply(x), key.apply(best));
                    if (name.equals("min") ? c < 0 : c > 0) best = x;
                }
                return best;
            }
            case "sum" -> {
                Object[] v = bind(name, args, kwargs, n("attribute", "start"), Py.NONE, 0L);
                List<Object> items = Py.iterate(value);
                if (v[0] != Py.NONE) items = items.stream().map(attrGetter(v[0], null, in)).toList();
                Object total = v[1];
                for (Object x : items) total = Py.add(total, x, in.budget);
                return total;
            }
            case "map" -> {
                return list(map(value, args, kwargs, in));
            }
            case "select", "reject" -> {
                return list(select(value, null, args, name.equals("select"), in));
            }
            case "selectattr", "rejectattr" -> {
                if (args.isEmpty()) throw TemplateException.runtime(name + "() missing the attribute");
                return list(select(value, args.getFirst(), args.subList(1, args.size()), name.equals("selectattr"), in));
            }
            case "int" -> {
                Object[] v = bind(name, args, kwargs, n("default", "base"), 0L, 10L);
                return toInt(value, v[0], Py.toLong(v[1]));
            }
            case "float" -> {
                Object[] v = bind(name, args, kwargs, n("default"), 0.0);
                Double d = toFloat(value);
                return d == null ? v[0] : d;
            }
            case "abs" -> {
                bind(name, args, kwargs, n());
                if (value instanceof Double d) return Math.abs(d);
                if (Py.isInt(value)) return Py.intValue(Py.big(value).abs());
                throw TemplateException.runtime("bad operand type for abs(): '" + Py.typeName(value) + "'");
            }
            case "round" -> {
                Object[] v = bind(name, args, kwargs, n("precision", "method"), 0L, "common");
                return round(value, Py.toLong(v[0]), Py.str(v[1]));
            }
            case "indent" -> {
                Object[] v = bind(name, args, kwargs, n("width", "first", "blank"), 4L, false, false);
                return indent(Py.str(value), v[0] instanceof String w ? w : " ".repeat((int) Math.min(Py.toLong(v[0]), 1000)),
                        Py.truthy(v[1]), Py.truthy(v[2]), in.budget);
            }
            case "center" -> {
                long width = Py.toLong(bind(name, args, kwargs, n("width"), 80L)[0]);
                in.budget.chars(width);
                return PyStrings.center(Py.str(value), (int) width, " ");
            }
            case "truncate" -> {
                Object[] v = bind(name, args, kwargs, n("length", "killwords", "end", "leeway"), 255L, false, "...", 5L);
                return truncate(Py.str(value), Py.toLong(v[0]), Py.truthy(v[1]), Py.str(v[2]), Py.toLong(v[3]));
            }
            case "wordcount" -> {
                bind(name, args, kwargs, n());
                long words = 0;
                boolean inWord = false;
                String s = Py.str(value);
                for (int i = 0; i < s.length(); ) {
                    int c = s.codePointAt(i);
                    i += Character.charCount(c);
                    boolean w = Character.isLetterOrDigit(c) || c == '_';
                    if (w && !inWord) words++;
                    inWord = w;
                }
                return words;
            }
            case "format" -> {
                if (!args.isEmpty() && !kwargs.isEmpty()) throw TemplateException.runtime("can't handle positional and keyword arguments at the same time");
                Object a;
                if (!kwargs.isEmpty()) {
                    PyDict d = new PyDict();
                    kwargs.forEach(d::put);
                    a = d;
                } else {
                    a = new PyList(new ArrayList<>(args), true);
                }
                return PyFormat.percent(Py.str(value), a, in.budget);
            }
            case "escape", "e", "forceescape" -> {
                bind(name, args, kwargs, n());
                return Py.str(value).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
                        .replace("\"", "&#34;").replace("'", "&#39;");
            }
            case "pprint" -> {
                bind(name, args, kwargs, n());
                return Py.repr(value);
            }
            case "attr" -> {
                Object attrName = bind(name, args, kwargs, n("name"), REQUIRED)[0];
                if (value instanceof Undefined u) throw u.error();
                Object a = attribute(value, Py.str(attrName), in);
                return a != null ? a : Undefined.attribute(value, attrName);
            }
            case "batch" -> {
                Object[] v = bind(name, args, kwargs, n("linecount", "fill_with"), REQUIRED, Py.NONE);
                long size = Py.toLong(v[0]);
                if (size <= 0) throw TemplateException.runtime("batch size must be positive");
                List<Object> items = Py.iterate(value);
                List<Object> out = new ArrayList<>();
                for (int i = 0; i < items.size(); i += (int) size) {
                    List<Object> chunk = new ArrayList<>(items.subList(i, (int) Math.min(items.size(), i + size)));
                    if (chunk.size() < size && v[1] != Py.NONE) while (chunk.size() < size) chunk.add(v[1]);
                    out.add(list(chunk));
                }
                return list(out);
            }
            default -> throw TemplateException.runtime("No filter named '" + name + "'.");
        }
    }

    /** Hugging Face's tojson: json.dumps(x, ensure_ascii=False, indent=None, separators=None, sort_keys=False). */
    private static String tojson(Object value, List<Object> args, Map<String, Object> kwargs, Budget budget) {
        Object[] v = bind("tojson", args, kwargs, n("ensure_ascii", "indent", "separators", "sort_keys"), false, Py.NONE, Py.NONE, false);
        String indent = null;
        if (v[1] instanceof String s) {
            indent = s;
        } else if (v[1] != Py.NONE) {
            indent = " ".repeat((int) Math.max(0, Math.min(Py.toLong(v[1]), 1000)));
        }
        String item = indent == null ? ", " : ",";
        String key = ": ";
        if (v[2] != Py.NONE) {
            List<Object> seps = Py.iterate(v[2]);
            if (seps.size() != 2) throw TemplateException.runtime("separators must be a pair of strings");
            item = string(seps.get(0), "item separator");
            key = string(seps.get(1), "key separator");
        }
        return PyJson.dumps(value, new PyJson.Options(Py.truthy(v[0]), indent, item, key, Py.truthy(v[3])), budget);
    }

    private static Object ignoreCase(Object v, boolean caseSensitive) {
        return !caseSensitive && v instanceof String s ? PyStrings.lower(s) : v;
    }

    private static Function<Object, Object> keyFunction(Object attribute, boolean caseSensitive, Interpreter in) {
        Function<Object, Object> get = attribute == Py.NONE ? x -> x : attrGetter(attribute, null, in);
        return x -> ignoreCase(get.apply(x), caseSensitive);
    }

    /** jinja2's make_attrgetter: "a.b.0" looked up with getitem part by part; default replaces Undefined. */
    private static Function<Object, Object> attrGetter(Object attribute, Object defaultValue, Interpreter in) {
        List<Object> parts = new ArrayList<>();
        if (attribute instanceof String s) {
            for (Object p : PyStrings.split(s, ".", -1)) {
                String part = (String) p;
                parts.add(!part.isEmpty() && part.chars().allMatch(Character::isDigit) ? (Object) Long.parseLong(part) : part);
            }
        } else {
            parts.add(attribute);
        }
        return item -> {
            Object v = item;
            for (Object part : parts) {
                v = in.getitem(v, part);
                if (in.marks != null) in.marks.mark(v);
            }
            if (defaultValue != null && v instanceof Undefined) v = defaultValue;
            return v;
        };
    }

    private static List<Object> map(Object value, List<Object> args, Map<String, Object> kwargs, Interpreter in) {
        List<Object> out = new ArrayList<>();
        if (!Py.truthy(value)) return out;
        Function<Object, Object> f;
        if (args.isEmpty() && kwargs.containsKey("attribute")) {
            Map<String, Object> rest = new LinkedHashMap<>(kwargs);
            Object attribute = rest.remove("attribute");
            Object dflt = rest.remove("default");
            if (!rest.isEmpty()) throw TemplateException.runtime("Unexpected keyword argument " + Py.repr(rest.keySet().iterator().next()));
            f = attrGetter(attribute, dflt, in);
        } else {
            if (args.isEmpty()) throw TemplateException.runtime("map requires a filter argument");
            String filterName = Py.str(args.getFirst());
            List<Object> rest = args.subList(1, args.size());
            f = x -> filter(filterName, x, rest, kwargs, in);
        }
        for (Object x : Py.iterate(value)) {
            in.budget.step();
            out.add(f.apply(x));
        }
        return out;
    }

    private static List<Object> select(Object value, Object attribute, List<Object> args, boolean keep, Interpreter in) {
        Function<Object, Object> get = attribute == null ? x -> x : attrGetter(attribute, null, in);
        List<Object> out = new ArrayList<>();
        if (!Py.truthy(value) && !(value instanceof PyList)) return out;
        for (Object x : Py.iterate(value)) {
            in.budget.step();
            Object v = get.apply(x);
            boolean r = args.isEmpty() ? Py.truthy(v)
                    : Py.truthy(test(Py.str(args.getFirst()), v, args.subList(1, args.size()), Map.of(), in));
            if (r == keep) out.add(x);
        }
        return out;
    }

    private static Object toInt(Object value, Object dflt, long base) {
        try {
            if (value instanceof String s) return parseInt(s, base);
            if (value instanceof Double d) {
                if (d.isNaN() || d.isInfinite()) throw new NumberFormatException();
                return Py.intValue(new BigDecimal(d).setScale(0, RoundingMode.DOWN).toBigInteger());
            }
            if (Py.isInt(value)) return Py.intValue(Py.big(value));
        } catch (NumberFormatException | ArithmeticException e) {
            // fall through: "42.23"|int gives 42, as in jinja2
        }
        Double d = toFloat(value);
        if (d != null && !d.isNaN() && !d.isInfinite()) return Py.intValue(new BigDecimal(d).setScale(0, RoundingMode.DOWN).toBigInteger());
        return dflt;
    }

    private static Object parseInt(String s, long base) {
        String t = PyStrings.strip(s, null).replace("_", "");
        boolean negative = t.startsWith("-");
        if (negative || t.startsWith("+")) t = t.substring(1);
        int radix = (int) base;
        String lower = t.toLowerCase(java.util.Locale.ROOT);
        if (base == 0 || base == 16 && lower.startsWith("0x") || base == 8 && lower.startsWith("0o") || base == 2 && lower.startsWith("0b")) {
            if (lower.startsWith("0x")) {
                radix = 16;
                t = t.substring(2);
            } else if (lower.startsWith("0o")) {
                radix = 8;
                t = t.substring(2);
            } else if (lower.startsWith("0b")) {
                radix = 2;
                t = t.substring(2);
            } else if (base == 0) {
                radix = 10;
            }
        }
        if (t.isEmpty()) throw new NumberFormatException();
        BigInteger v = new BigInteger(t, radix);
        return Py.intValue(negative ? v.negate() : v);
    }

    private static Double toFloat(Object value) {
        if (value instanceof Double d) return d;
        if (Py.isInt(value)) return Py.toDouble(value);
        if (value instanceof String s) {
            String t = PyStrings.strip(s, null).replace("_", "").toLowerCase(java.util.Locale.ROOT);
            switch (t) {
                case "nan", "+nan", "-nan" -> { return Double.NaN; }
                case "inf", "+inf", "infinity", "+infinity" -> { return Double.POSITIVE_INFINITY; }
                case "-inf", "-infinity" -> { return Double.NEGATIVE_INFINITY; }
                default -> { }
            }
            if (!t.matches("[+-]?(\\d+\\.?\\d*|\\.\\d+)(e[+-]?\\d+)?")) return null;
            return Double.parseDouble(t);
        }
        return null;
    }

    private static Object round(Object value, long precision, String method) {
        if (!Py.isNumber(value)) throw TemplateException.runtime("type " + Py.typeName(value) + " doesn't define __round__ method");
        if (!method.equals("common") && !method.equals("ceil") && !method.equals("floor")) {
            throw TemplateException.runtime("method must be common, ceil or floor");
        }
        if (method.equals("common")) {
            if (Py.isInt(value) && !(value instanceof Boolean)) return value;
            double d = Py.toDouble(value);
            if (Double.isNaN(d) || Double.isInfinite(d)) return d;
            return new BigDecimal(d).setScale((int) precision, RoundingMode.HALF_EVEN).doubleValue();
        }
        double scale = Math.pow(10, precision);
        double x = Py.toDouble(value) * scale;
        return (method.equals("ceil") ? Math.ceil(x) : Math.floor(x)) / scale;
    }

    /** jinja2's indent: every line but the first (also the first with first=True), blank lines only with blank. */
    private static String indent(String s, String indention, boolean first, boolean blank, Budget budget) {
        s = s + "\n";
        List<Object> lines = PyStrings.splitlines(s, false);
        StringBuilder rv = new StringBuilder();
        if (blank) {
            for (int i = 0; i < lines.size(); i++) {
                if (i > 0) rv.append('\n').append(indention);
                rv.append((String) lines.get(i));
                budget.chars(rv.length());
            }
        } else {
            rv.append((String) lines.getFirst());
            for (int i = 1; i < lines.size(); i++) {
                String line = (String) lines.get(i);
                rv.append('\n');
                if (!line.isEmpty()) rv.append(indention);
                rv.append(line);
                budget.chars(rv.length());
            }
        }
        return first ? indention + rv : rv.toString();
    }

    private static String truncate(String s, long length, boolean killwords, String end, long leeway) {
        if (length < end.length()) throw TemplateException.runtime("expected length >= " + end.length() + ", got " + length);
        if (leeway < 0) throw TemplateException.runtime("expected leeway >= 0, got " + leeway);
        if (PyStrings.length(s) <= length + leeway) return s;
        int[] cps = PyStrings.codePoints(s);
        String head = PyStrings.fromCodePoints(cps, 0, (int) (length - end.length()));
        if (killwords) return head + end;
        int space = head.lastIndexOf(' ');
        return (space >= 0 ? head.substring(0, space) : head) + end;
    }

    // ---- tests -----------------------------------------------------------------------------------------

    static Object test(String name, Object value, List<Object> args, Map<String, Object> kwargs, Interpreter in) {
        Object arg = args.isEmpty() ? null : args.getFirst();
        return switch (name) {
            case "defined" -> !(value instanceof Undefined);
            case "undefined" -> value instanceof Undefined;
            case "none" -> value == Py.NONE;
            case "string" -> value instanceof String;
            case "number" -> Py.isNumber(value);
            case "integer" -> value instanceof Long || value instanceof BigInteger;
            case "float" -> value instanceof Double;
            case "boolean" -> value instanceof Boolean;
            case "true" -> Boolean.TRUE.equals(value);
            case "false" -> Boolean.FALSE.equals(value);
            case "mapping" -> value instanceof PyDict;
            case "sequence" -> value instanceof String || value instanceof PyList || value instanceof PyDict || value instanceof Undefined;
            case "iterable" -> value instanceof String || value instanceof PyList || value instanceof PyDict || value instanceof Undefined;
            case "callable" -> value instanceof PyCallable || value instanceof Undefined;
            case "lower" -> isLower(Py.str(value));
            case "upper" -> isUpper(Py.str(value));
            case "odd" -> Math.floorMod(Py.toLong(value), 2) == 1;
            case "even" -> Math.floorMod(Py.toLong(value), 2) == 0;
            case "divisibleby" -> {
                long d = Py.toLong(required(name, arg));
                if (d == 0) throw TemplateException.runtime("integer division or modulo by zero");
                yield Math.floorMod(Py.toLong(value), d) == 0;
            }
            case "eq", "equalto", "==" -> Py.eq(value, required(name, arg));
            case "ne", "!=" -> !Py.eq(value, required(name, arg));
            case "lt", "lessthan", "<" -> Py.compare("<", value, required(name, arg));
            case "le", "<=" -> Py.compare("<=", value, required(name, arg));
            case "gt", "greaterthan", ">" -> Py.compare(">", value, required(name, arg));
            case "ge", ">=" -> Py.compare(">=", value, required(name, arg));
            case "in" -> Py.contains(required(name, arg), value);
            case "sameas" -> {
                Object other = required(name, arg);
                yield value == other || (value instanceof Boolean && value.equals(other));
            }
            case "escaped" -> false;
            case "filter" -> value instanceof String s && FILTER_NAMES.contains(s);
            case "test" -> value instanceof String s && TEST_NAMES.contains(s);
            default -> throw TemplateException.runtime("No test named '" + name + "'.");
        };
    }

    private static Object required(String test, Object arg) {
        if (arg == null) throw TemplateException.runtime("test '" + test + "' needs an argument");
        return arg;
    }

    static final List<String> FILTER_NAMES = List.of("length", "count", "string", "safe", "tojson", "from_json", "trim", "upper",
            "lower", "capitalize", "title", "default", "d", "join", "replace", "first", "last", "list", "reverse", "items",
            "dictsort", "sort", "unique", "min", "max", "sum", "map", "select", "reject", "selectattr", "rejectattr", "int",
            "float", "abs", "round", "indent", "center", "truncate", "wordcount", "format", "escape", "e", "forceescape",
            "pprint", "attr", "batch");

    static final List<String> TEST_NAMES = List.of("defined", "undefined", "none", "string", "number", "integer", "float",
            "boolean", "true", "false", "mapping", "sequence", "iterable", "callable", "lower", "upper", "odd", "even",
            "divisibleby", "eq", "equalto", "==", "ne", "!=", "lt", "lessthan", "<", "le", "<=", "gt", "greaterthan", ">",
            "ge", ">=", "in", "sameas", "escaped", "filter", "test");
}
