package io.moeflow.experts;

/**
 * The experts a MoE layer's router chooses, computed by the model's own routing code (so prefetch predicts with
 * exactly what routing does: router bias, selection bias, group-limited top-k). The model implements it; the
 * expert store only calls it, so this package needs nothing of the model's.
 */
@FunctionalInterface
public interface ExpertRouting {
    /**
     * Routes {@code n} tokens whose residual stream before layer {@code layer}'s FFN is {@code x}
     * ({@code [n][n_embd]}): writes the experts chosen for token {@code t}, best first, to
     * {@code selected[t * k .. t * k + k)} and returns {@code k}. {@code selected} holds at least
     * {@code n * n_expert} ids.
     */
    int route(int layer, float[] x, int n, int[] selected);
}
