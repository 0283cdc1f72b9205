package io.moeflow.experts;

/**
 * Which of two cached experts goes first. {@link EvictionPolicy#LRU}: the least recently used. {@link
 * EvictionPolicy#LFU}: the less used (per-expert counts that survive eviction, halved every {@code 8 x experts}
 * uses), then the one whose layer runs last from the layer used last (steps visit the MoE layers in a cycle),
 * then the least recently used.
 *
 * <p>Locking: not thread-safe; used only under the store's lock.
 */
final class EvictionOrder {
    private final EvictionPolicy policy;
    /** Use counts by layer position and expert (LFU only). */
    private final int[][] freq;
    private final long agingPeriod;
    private long accesses;
    /** Position of the layer that was used last. */
    private int currentPos;

    EvictionOrder(EvictionPolicy policy, CachedLayer[] layers) {
        this.policy = policy;
        freq = new int[layers.length][];
        long experts = 0;
        for (CachedLayer l : layers) {
            freq[l.pos] = new int[l.nExpert];
            experts += l.nExpert;
        }
        agingPeriod = 8 * experts;
    }

    EvictionPolicy policy() {
        return policy;
    }

    /** A step now uses layer {@code l}. */
    void enter(CachedLayer l) {
        currentPos = l.pos;
    }

    /** Expert {@code e} of {@code l} is used once more. */
    void countUse(CachedLayer l, int e) {
        if (policy != EvictionPolicy.LFU) return;
        freq[l.pos][e]++;
        if (++accesses % agingPeriod == 0)
            for (int[] f : freq) for (int i = 0; i < f.length; i++) f[i] >>= 1;
    }

    /** Whether expert {@code ea} of {@code la}, last used at {@code useA}, goes before {@code eb} of {@code lb}. */
    boolean evictsBefore(CachedLayer la, int ea, long useA, CachedLayer lb, int eb, long useB) {
        if (policy == EvictionPolicy.LFU) {
            int fa = freq[la.pos][ea], fb = freq[lb.pos][eb];
            if (fa != fb) return fa < fb;
            int da = layersUntilUse(la), db = layersUntilUse(lb);
            if (da != db) return da > db;
        }
        return useA < useB;
    }

    /** How many MoE layers run before {@code l} runs again, counting from the layer used last (1 = next). */
    private int layersUntilUse(CachedLayer l) {
        return (l.pos - currentPos - 1 + 2 * freq.length) % freq.length + 1;
    }
}
