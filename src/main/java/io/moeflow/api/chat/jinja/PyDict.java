package io.moeflow.api.chat.jinja;

import java.util.LinkedHashMap;
import java.util.Map;

/** A Python dict (insertion-ordered). Integral float keys find the int key, as 1.0 finds 1 in Python. */
final class PyDict {
    final Map<Object, Object> map;

    PyDict() {
        this.map = new LinkedHashMap<>();
    }

    PyDict(Map<Object, Object> map) {
        this.map = map;
    }

    static Object key(Object k) {
        if (k instanceof Double d && d == Math.rint(d) && !Double.isInfinite(d) && Math.abs(d) < 9.0e15) return (long) (double) d;
        if (k instanceof Boolean b) return b ? 1L : 0L;
        return k;
    }

    /** The value of key k, or null when absent. */
    Object get(Object k) {
        Object v = map.get(k);
        if (v != null || k instanceof String) return v;
        Object nk = key(k);
        if (!nk.equals(k)) {
            v = map.get(nk);
            if (v != null) return v;
        }
        // a bool key stored as Boolean, looked up with 0/1
        if (nk instanceof Long l && (l == 0 || l == 1)) return map.get(l == 1);
        return null;
    }

    boolean containsKey(Object k) {
        return get(k) != null;
    }

    void put(Object k, Object v) {
        map.put(k, v);
    }

    int size() {
        return map.size();
    }
}
