package io.moeflow.api.chat.jinja;

import com.fasterxml.jackson.databind.JsonNode;
import java.math.BigInteger;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/**
 * Python's json.dumps (what Hugging Face's tojson filter calls: ", " and ": " separators, or "," with an indent,
 * ensure_ascii off by default, floats as repr, NaN and Infinity) and the conversion of JSON trees into template
 * values.
 */
public final class PyJson {
    private PyJson() {}

    static final int MAX_DEPTH = 500;

    record Options(boolean ensureAscii, String indent, String itemSeparator, String keySeparator, boolean sortKeys) {}

    static String dumps(Object value, Options o, Budget budget) {
        StringBuilder out = new StringBuilder();
        write(value, o, out, 0, budget);
        return out.toString();
    }

    private static void write(Object v, Options o, StringBuilder out, int level, Budget budget) {
        if (level > MAX_DEPTH) throw TemplateException.limit("a value is nested too deeply for tojson");
        budget.chars(out.length());
        if (v instanceof String s) {
            string(s, o.ensureAscii, out);
        } else if (v instanceof Boolean b) {
            out.append(b ? "true" : "false");
        } else if (v instanceof Long || v instanceof BigInteger) {
            out.append(v);
        } else if (v instanceof Double d) {
            out.append(Double.isNaN(d) ? "NaN" : Double.isInfinite(d) ? (d > 0 ? "Infinity" : "-Infinity") : Py.floatRepr(d));
        } else if (v == Py.NONE) {
            out.append("null");
        } else if (v instanceof PyList l) {
            if (l.items.isEmpty()) {
                out.append("[]");
                return;
            }
            out.append('[');
            for (int i = 0; i < l.items.size(); i++) {
                if (i > 0) out.append(o.itemSeparator);
                newline(o, out, level + 1);
                write(l.items.get(i), o, out, level + 1, budget);
            }
            newline(o, out, level);
            out.append(']');
        } else if (v instanceof PyDict d) {
            if (d.size() == 0) {
                out.append("{}");
                return;
            }
            List<Map.Entry<Object, Object>> entries = new ArrayList<>(d.map.entrySet());
            if (o.sortKeys) entries.sort((a, b) -> Py.order(a.getKey(), b.getKey()));
            out.append('{');
            boolean first = true;
            for (Map.Entry<Object, Object> e : entries) {
                if (!first) out.append(o.itemSeparator);
                first = false;
                newline(o, out, level + 1);
                string(key(e.getKey()), o.ensureAscii, out);
                out.append(o.keySeparator);
                write(e.getValue(), o, out, level + 1, budget);
            }
            newline(o, out, level);
            out.append('}');
        } else {
            throw TemplateException.runtime("Object of type " + Py.typeName(v) + " is not JSON serializable");
        }
    }

    private static String key(Object k) {
        if (k instanceof String s) return s;
        if (k instanceof Boolean b) return b ? "true" : "false";
        if (k == Py.NONE) return "null";
        if (k instanceof Long || k instanceof BigInteger) return k.toString();
        if (k instanceof Double d) return Py.floatRepr(d);
        throw TemplateException.runtime("keys must be str, int, float, bool or None, not " + Py.typeName(k));
    }

    private static void newline(Options o, StringBuilder out, int level) {
        if (o.indent == null) return;
        out.append('\n');
        for (int i = 0; i < level; i++) out.append(o.indent);
    }

    static void string(String s, boolean ensureAscii, StringBuilder out) {
        out.append('"');
        for (int i = 0; i < s.length(); i++) {
            char c = s.charAt(i);
            switch (c) {
                case '"' -> out.append("\\\"");
                case '\\' -> out.append("\\\\");
                case '\n' -> out.append("\\n");
                case '\r' -> out.append("\\r");
                case '\t' -> out.append("\\t");
                case '\b' -> out.append("\\b");
                case '\f' -> out.append("\\f");
                default -> {
                    if (c < 0x20 || (ensureAscii && c > 0x7e)) {
                        out.append(String.format("\\u%04x", (int) c));
                    } else {
                        out.append(c);
                    }
                }
            }
        }
        out.append('"');
    }

    /** A JSON tree as template values: objects become dicts (in order), arrays lists, null None. */
    public static Object fromJson(JsonNode node) {
        return fromJson(node, 0);
    }

    private static Object fromJson(JsonNode node, int depth) {
        if (depth > MAX_DEPTH) throw TemplateException.limit("a JSON value is nested deeper than " + MAX_DEPTH + " levels");
        return switch (node.getNodeType()) {
            case STRING -> node.textValue();
            case BOOLEAN -> node.booleanValue();
            case NUMBER -> node.isIntegralNumber() ? Py.intValue(node.bigIntegerValue()) : (Object) node.doubleValue();
            case ARRAY -> {
                List<Object> items = new ArrayList<>(node.size());
                for (JsonNode x : node) items.add(fromJson(x, depth + 1));
                yield new PyList(items, false);
            }
            case OBJECT -> {
                PyDict d = new PyDict();
                for (Map.Entry<String, JsonNode> e : node.properties()) d.put(e.getKey(), fromJson(e.getValue(), depth + 1));
                yield d;
            }
            default -> Py.NONE;
        };
    }
}
