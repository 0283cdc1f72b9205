package io.moeflow.api.kafka;

import java.util.LinkedHashMap;
import java.util.Map;

/** A bounded set of request ids, oldest forgotten first. Thread-safe. */
final class RecentIds {
    private final Map<String, Boolean> ids;

    RecentIds(int capacity) {
        ids = new LinkedHashMap<>(Math.min(capacity, 1024), 0.75f, false) {
            @Override
            protected boolean removeEldestEntry(Map.Entry<String, Boolean> eldest) {
                return size() > capacity;
            }
        };
    }

    /** True when {@code id} was not yet present. */
    synchronized boolean add(String id) {
        return ids.putIfAbsent(id, Boolean.TRUE) == null;
    }
}
