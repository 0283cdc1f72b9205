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
    /**
     * Tokens routed to each expert, {@code [layer][expert]}; a layer's row exists once one of its MoE blocks ran
     * (null for dense layers). Zeroed by {@link #reset}, kept allocated.
     */
    public int[][] routedTokens = new int[0][];
    /** Receives every token's expert choice when set (tests compare it with llama.cpp's router_topk). */
    public RoutingTrace routing;

    /** Observer of router decisions. */
    public interface RoutingTrace {
        /** Token {@code token} of the batch chose {@code experts[from .. from+k)} in layer {@code layer}, best first. */
        void routed(int layer, int token, int[] experts, int from, int k);

        /** Layer {@code layer}'s FFN input is the residual stream {@code x[0 .. n * n_embd)} (valid during the call only). */
        default void ffnInput(int layer, float[] x, int n) {}
    }

    /** The {@link #routedTokens} row of {@code layer}, allocated for {@code experts} experts at first use. */
    public int[] routedTokens(int layer, int experts) {
        if (layer >= routedTokens.length) routedTokens = java.util.Arrays.copyOf(routedTokens, layer + 1);
        int[] row = routedTokens[layer];
        if (row == null || row.length < experts) routedTokens[layer] = row = new int[experts];
        return row;
    }

    public void reset(int layers) {
        tokens = 0;
        if (distinctExperts.length != layers) {
            distinctExperts = new int[layers];
            expertInvocations = new int[layers];
            routedTokens = new int[layers][];
        } else {
            for (int[] row : routedTokens) if (row != null) java.util.Arrays.fill(row, 0);
            java.util.Arrays.fill(distinctExperts, 0);
            java.util.Arrays.fill(expertInvocations, 0);
        }
        expertBytes = 0;
        attentionNanos = expertNanos = otherNanos = 0;
    }
}
