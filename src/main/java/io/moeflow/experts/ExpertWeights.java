package io.moeflow.experts;

import io.moeflow.kernels.QMatrix;

/**
 * The routed experts of one MoE layer: gate, up and down matrices of each expert, and (gpt-oss) optional
 * per-expert bias vectors. The model asks for them by expert id; where they live (the memory-mapped file,
 * or a RAM-budgeted cache) is this package's business.
 */
public interface ExpertWeights {
    int count();

    QMatrix gate(int expert);

    QMatrix up(int expert);

    QMatrix down(int expert);

    /** Bias added to the gate projection of {@code expert} ({@code [ffn]}), or null when the experts have none. */
    default float[] gateBias(int expert) { return null; }

    /** Bias added to the up projection ({@code [ffn]}), or null. */
    default float[] upBias(int expert) { return null; }

    /** Bias added to the down projection ({@code [n_embd]}), or null. */
    default float[] downBias(int expert) { return null; }

    /** Bytes of one expert's three matrices. */
    long bytesPerExpert();
}
