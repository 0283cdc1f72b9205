package io.moeflow.experts;

import java.util.Locale;

/** Which cached expert a {@link ExpertStore} drops when it needs a slot. Pinned experts are never candidates. */
public enum EvictionPolicy {
    /** Least recently used. */
    LRU,
    /**
     * Least frequently used with aging: every expert (cached or not) keeps a use count that survives its eviction
     * and is halved periodically, so popular experts stay and yesterday's favourites fade; ties go to the expert
     * whose layer runs last from the current layer on (a step visits the layers in a cycle, so that expert is
     * needed latest), then to the least recently used. Unlike LRU it does not flush the whole cache when a step's
     * working set, cycling through the layers, is larger than the cache.
     */
    LFU;

    public static EvictionPolicy parse(String s) {
        try {
            return valueOf(s.trim().toUpperCase(Locale.ROOT));
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException("unknown expert eviction policy '" + s + "' (use lru or lfu)");
        }
    }
}
