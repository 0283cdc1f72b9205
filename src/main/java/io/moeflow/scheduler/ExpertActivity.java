package io.moeflow.scheduler;

import java.util.Arrays;

/**
 * Tokens routed to each (layer, expert) over the last seconds: a ring of one-second buckets of plain int arrays,
 * added to once per forward step (under the scheduler's totals lock, which the step already takes) and summed
 * over a window when asked. Not thread-safe by itself.
 */
final class ExpertActivity {
    /** The longest window that can be asked for; also the number of buckets. */
    static final int MAX_SECONDS = 60;

    private final int layers;
    /** {@code [bucket][layer][expert]}; a layer's row is allocated when its MoE block first routes. */
    private final int[][][] buckets = new int[MAX_SECONDS][][];
    private final long[] bucketSecond = new long[MAX_SECONDS];
    /** Experts per layer, 0 for a layer that never routed a token (a dense layer). */
    private final int[] experts;

    ExpertActivity(int layers) {
        this.layers = layers;
        this.experts = new int[layers];
        for (int b = 0; b < MAX_SECONDS; b++) buckets[b] = new int[layers][];
        Arrays.fill(bucketSecond, Long.MIN_VALUE);
    }

    /** Adds one step's {@code routed[layer][expert]} token counts (null rows: dense layers) at {@code second}. */
    void add(int[][] routed, long second) {
        int b = (int) Math.floorMod(second, (long) MAX_SECONDS);
        int[][] bucket = buckets[b];
        if (bucketSecond[b] != second) {
            for (int[] row : bucket) if (row != null) Arrays.fill(row, 0);
            bucketSecond[b] = second;
        }
        for (int l = 0; l < Math.min(layers, routed.length); l++) {
            int[] row = routed[l];
            if (row == null) continue;
            if (experts[l] < row.length) experts[l] = row.length;
            int[] into = bucket[l];
            if (into == null || into.length < row.length) {
                into = into == null ? new int[row.length] : Arrays.copyOf(into, row.length);
                bucket[l] = into;
            }
            for (int e = 0; e < row.length; e++) into[e] += row[e];
        }
    }

    /**
     * Tokens routed per {@code [layer][expert]} in the {@code seconds} whole seconds up to and including
     * {@code now}; a null row for a layer that never routed (dense).
     */
    long[][] window(int seconds, long now) {
        if (seconds < 1 || seconds > MAX_SECONDS)
            throw new IllegalArgumentException("window " + seconds + " s is outside [1, " + MAX_SECONDS + "]");
        long[][] sum = new long[layers][];
        for (int l = 0; l < layers; l++) if (experts[l] > 0) sum[l] = new long[experts[l]];
        for (int b = 0; b < MAX_SECONDS; b++) {
            long s = bucketSecond[b];
            if (s > now || s <= now - seconds) continue;
            for (int l = 0; l < layers; l++) {
                int[] row = buckets[b][l];
                if (row == null) continue;
                for (int e = 0; e < row.length; e++) sum[l][e] += row[e];
            }
        }
        return sum;
    }
}
