package io.moeflow.model;

/**
 * Counters of one forward step, filled by the model: tokens, distinct experts run per layer, expert bytes
 * touched, and time spent in attention, experts and the rest. Reused across steps ({@link #reset}).
 */
public final class StepStats {
    public int tokens;
    public int[] distinctExperts = new int[0];
    /** Expert invocations per layer: one per (expert, step) when grouping works. */
    public int[] expertInvocations = new int[0];
    public long expertBytes;
    public long attentionNanos, expertNanos, otherNanos;

    public void reset(int layers) {
        tokens = 0;
        if (distinctExperts.length != layers) {
            distinctExperts = new int[layers];
            expertInvocations = new int[layers];
        } else {
            java.util.Arrays.fill(distinctExperts, 0);
            java.util.Arrays.fill(expertInvocations, 0);
        }
        expertBytes = 0;
        attentionNanos = expertNanos = otherNanos = 0;
    }
}
