package io.moeflow.experts;

import java.util.ArrayList;
import java.util.List;

/**
 * A snapshot of an {@link ExpertStore}'s counters since it opened, per MoE layer and in total ({@link #since}
 * gives a window between two snapshots). Hits and misses count demand acquisitions of one expert by one step; a hit on an
 * expert whose read is still in flight counts as a hit (it was not read for this step) and its wait shows in
 * {@code waitNanos}.
 */
public record ExpertCacheStats(EvictionPolicy policy, boolean directIo, long budgetBytes, long slotBytes, int slots,
                               int usedSlots, long allocatedBytes, long tokens, long readBusyNanos,
                               List<Layer> layers, Layer total) {
    /** Counters of one MoE layer (or, with {@code layer == -1}, all of them). */
    public record Layer(int layer, long hits, long misses, long bytesRead, long reads, long waitNanos,
                        long prefetchIssued, long prefetchUseful, long evictions) {
        public double hitRate() {
            long n = hits + misses;
            return n == 0 ? 0 : (double) hits / n;
        }

        /** Share of prefetched experts that a step then used (before they were evicted). */
        public double prefetchAccuracy() {
            return prefetchIssued == 0 ? 0 : (double) prefetchUseful / prefetchIssued;
        }

        Layer minus(Layer o) {
            return new Layer(layer, hits - o.hits, misses - o.misses, bytesRead - o.bytesRead, reads - o.reads,
                    waitNanos - o.waitNanos, prefetchIssued - o.prefetchIssued, prefetchUseful - o.prefetchUseful,
                    evictions - o.evictions);
        }

        Layer plus(Layer o) {
            return new Layer(-1, hits + o.hits, misses + o.misses, bytesRead + o.bytesRead, reads + o.reads,
                    waitNanos + o.waitNanos, prefetchIssued + o.prefetchIssued, prefetchUseful + o.prefetchUseful,
                    evictions + o.evictions);
        }
    }

    /**
     * The counters of the window from {@code earlier} (a snapshot of the same store) to this snapshot; sizes and
     * occupancy are this snapshot's. A bench measures a window this way, leaving its warm-up out.
     */
    public ExpertCacheStats since(ExpertCacheStats earlier) {
        if (earlier.layers.size() != layers.size())
            throw new IllegalArgumentException("snapshots of different expert stores (" + earlier.layers.size() + " vs " + layers.size() + " layers)");
        List<Layer> window = new ArrayList<>(layers.size());
        for (int i = 0; i < layers.size(); i++) window.add(layers.get(i).minus(earlier.layers.get(i)));
        return new ExpertCacheStats(policy, directIo, budgetBytes, slotBytes, slots, usedSlots, allocatedBytes,
                tokens - earlier.tokens, readBusyNanos - earlier.readBusyNanos, List.copyOf(window), total.minus(earlier.total));
    }

    /** Bytes read from disk per token that went through the model (prompt and generated). */
    public double bytesPerToken() {
        return tokens == 0 ? 0 : (double) total.bytesRead / tokens;
    }

    /** Bytes per second while at least one read was in flight. */
    public double readBandwidth() {
        return readBusyNanos == 0 ? 0 : total.bytesRead * 1e9 / readBusyNanos;
    }

    /** One line for logs and the bench. */
    public String summary() {
        return String.format("expert cache %s %s: %d/%d slots of %d B, hit rate %.1f%% (%d hits, %d misses), %.0f B read/token, %.0f MB/s, I/O wait %.1f ms, prefetch %d issued / %d useful",
                policy, directIo ? "O_DIRECT" : "buffered", usedSlots, slots, slotBytes, 100 * total.hitRate(), total.hits,
                total.misses, bytesPerToken(), readBandwidth() / 1e6, total.waitNanos / 1e6, total.prefetchIssued, total.prefetchUseful);
    }
}
