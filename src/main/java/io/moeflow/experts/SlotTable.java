package io.moeflow.experts;

/**
 * What each slot of the slab holds: which expert, in which state (empty, being read, ready, failed), how many
 * pins keep it, when it was last used and whether a prefetch brought it; and the choice of a slot to reuse.
 * Never a pinned slot, never one with a read in flight; an empty slot first, then the {@link EvictionOrder}'s
 * choice, prefetched-but-unused experts last within the step they were read for.
 *
 * <p>Locking: not thread-safe; every field and method is used only under the store's lock.
 */
final class SlotTable {
    static final byte EMPTY = 0, LOADING = 1, READY = 2, FAILED = 3;

    final int slots;
    final byte[] state;
    final int[] pins;
    final ReadQueue.Load[] loading;
    final Throwable[] error;
    final boolean[] prefetched;
    private final int[] expert;
    private final CachedLayer[] layer;
    private final long[] lastUse, prefetchStep;
    private final ExpertSlab slab;
    private final EvictionOrder order;
    private long tick;
    private int used;

    SlotTable(int slots, ExpertSlab slab, EvictionOrder order) {
        this.slots = slots;
        this.slab = slab;
        this.order = order;
        state = new byte[slots];
        pins = new int[slots];
        loading = new ReadQueue.Load[slots];
        error = new Throwable[slots];
        prefetched = new boolean[slots];
        expert = new int[slots];
        layer = new CachedLayer[slots];
        lastUse = new long[slots];
        prefetchStep = new long[slots];
    }

    /** Slots holding an expert or a read in flight. */
    int used() {
        return used;
    }

    /** Slot {@code s} now holds expert {@code e} of {@code l} (evicting what it held). */
    void assign(int s, CachedLayer l, int e) {
        if (state[s] != EMPTY) {
            layer[s].counters.evictions++;
            clear(s);
        }
        layer[s] = l;
        expert[s] = e;
        used++;
        l.bind(e, s, slab.slot(s));
    }

    /** Empties slot {@code s}. */
    void clear(int s) {
        CachedLayer l = layer[s];
        if (l == null) return;
        l.unbind(expert[s]);
        layer[s] = null;
        expert[s] = -1;
        state[s] = EMPTY;
        prefetched[s] = false;
        error[s] = null;
        used--;
    }

    /** A step uses slot {@code s} now. */
    void touch(int s) {
        lastUse[s] = ++tick;
    }

    /** A prefetch for step {@code step} brought slot {@code s}: it ranks as used as recently as the last use. */
    void markPrefetched(int s, long step) {
        prefetched[s] = true;
        prefetchStep[s] = step;
        lastUse[s] = tick;
    }

    /**
     * A slot to reuse in step {@code step}, or -1 when none is free or evictable; slots prefetched for this step
     * and not yet used only when {@code takePrefetched}.
     */
    int pickVictim(boolean takePrefetched, long step) {
        int best = -1, bestPrefetched = -1;
        for (int s = 0; s < slots; s++) {
            if (pins[s] > 0 || state[s] == LOADING) continue;
            if (state[s] == EMPTY) return s;
            if (prefetched[s] && prefetchStep[s] == step) { // protected until the step it was read for is over
                if (bestPrefetched < 0 || evictsBefore(s, bestPrefetched)) bestPrefetched = s;
            } else if (best < 0 || evictsBefore(s, best)) best = s;
        }
        return best >= 0 ? best : takePrefetched ? bestPrefetched : -1;
    }

    private boolean evictsBefore(int a, int b) {
        return order.evictsBefore(layer[a], expert[a], lastUse[a], layer[b], expert[b], lastUse[b]);
    }

    /** Whether a read in flight on an unpinned slot may free it (so waiting for a victim can end). */
    boolean readsMayFreeASlot() {
        for (int s = 0; s < slots; s++) if (state[s] == LOADING && pins[s] == 0) return true;
        return false;
    }

    /** Pins on all slots. */
    long totalPins() {
        long n = 0;
        for (int s = 0; s < slots; s++) n += pins[s];
        return n;
    }
}
