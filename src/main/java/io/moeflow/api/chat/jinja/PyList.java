package io.moeflow.api.chat.jinja;

import java.util.ArrayList;
import java.util.List;

/** A Python list, or a tuple when {@code tuple} (immutable, printed in parentheses). */
final class PyList {
    final List<Object> items;
    final boolean tuple;

    PyList(List<Object> items, boolean tuple) {
        this.items = items;
        this.tuple = tuple;
    }

    static PyList of(List<Object> items) {
        return new PyList(new ArrayList<>(items), false);
    }

    static PyList tuple(Object... items) {
        return new PyList(List.of(items), true);
    }

    int size() {
        return items.size();
    }
}
