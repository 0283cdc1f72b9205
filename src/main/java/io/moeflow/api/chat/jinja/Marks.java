package io.moeflow.api.chat.jinja;

import java.util.Collections;
import java.util.HashSet;
import java.util.IdentityHashMap;
import java.util.Map;
import java.util.Set;

/**
 * Which input values a render read, and how (llama.cpp's value stats in jinja::caps_get): a value is used when a
 * name, attribute or item lookup returns it, a loop iterates it, a filter or method takes it, or tojson/string
 * serialise it (deeply). Identity-based, so each input value must be its own object.
 */
public final class Marks {
    private final Set<Object> used = Collections.newSetFromMap(new IdentityHashMap<>());
    private final Map<Object, Set<String>> ops = new IdentityHashMap<>();

    void mark(Object v) {
        if (v instanceof String || v instanceof PyList || v instanceof PyDict) used.add(v);
    }

    void markDeep(Object v) {
        markDeep(v, 0);
    }

    private void markDeep(Object v, int depth) {
        if (depth > 500) return;
        mark(v);
        if (v instanceof PyList l) {
            for (Object x : l.items) markDeep(x, depth + 1);
        } else if (v instanceof PyDict d) {
            for (Map.Entry<Object, Object> e : d.map.entrySet()) {
                markDeep(e.getKey(), depth + 1);
                markDeep(e.getValue(), depth + 1);
            }
        }
    }

    void op(Object v, String name) {
        if (v instanceof String || v instanceof PyList || v instanceof PyDict) ops.computeIfAbsent(v, k -> new HashSet<>()).add(name);
    }

    public boolean used(Object v) {
        return used.contains(v);
    }

    public boolean hadOp(Object v, String name) {
        return ops.getOrDefault(v, Set.of()).contains(name);
    }
}
