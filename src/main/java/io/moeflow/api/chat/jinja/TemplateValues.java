package io.moeflow.api.chat.jinja;

import com.fasterxml.jackson.databind.JsonNode;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/** Builds the values a template context holds, and finds values inside them (for capability probes). */
public final class TemplateValues {
    private TemplateValues() {}

    /** A JSON tree as template values: objects as dicts (keeping their order), arrays as lists, null as None. */
    public static Object fromJson(JsonNode node) {
        return PyJson.fromJson(node);
    }

    /**
     * Like {@link #fromJson} but every string is its own object, so that {@link Marks} can tell two equal strings
     * apart.
     */
    public static Object fromJsonDistinct(JsonNode node) {
        return distinct(PyJson.fromJson(node));
    }

    private static Object distinct(Object v) {
        if (v instanceof String s) return new String(s);
        if (v instanceof PyList l) {
            List<Object> items = new ArrayList<>(l.size());
            for (Object x : l.items) items.add(distinct(x));
            return new PyList(items, l.tuple);
        }
        if (v instanceof PyDict d) {
            PyDict copy = new PyDict();
            for (Map.Entry<Object, Object> e : d.map.entrySet()) copy.put(e.getKey(), distinct(e.getValue()));
            return copy;
        }
        return v;
    }

    /** The value at a path of dict keys (String) and list indices (Integer), or null when there is none. */
    public static Object at(Object value, Object... path) {
        Object v = value;
        for (Object p : path) {
            if (v instanceof PyDict d && p instanceof String k) {
                v = d.get(k);
            } else if (v instanceof PyList l && p instanceof Integer i && i >= 0 && i < l.size()) {
                v = l.items.get(i);
            } else {
                return null;
            }
            if (v == null) return null;
        }
        return v;
    }
}
