package io.moeflow.experts;

import io.moeflow.kernels.QMatrix;

/**
 * The routed experts of one MoE layer: gate, up and down matrices of each expert. The model asks for them
 * by expert id; where they live (the memory-mapped file, or a RAM-budgeted cache) is this package's business.
 */
public interface ExpertWeights {
    int count();

    QMatrix gate(int expert);

    QMatrix up(int expert);

    QMatrix down(int expert);

    /** Bytes of one expert's three matrices. */
    long bytesPerExpert();
}
