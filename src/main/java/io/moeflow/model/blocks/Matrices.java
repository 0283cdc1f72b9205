package io.moeflow.model.blocks;

import io.moeflow.kernels.Formats;
import io.moeflow.kernels.Kernels;
import io.moeflow.kernels.QMatrix;

/** Matrix products run inside a pool task (the pool's own matmul would nest), on the enabled kernel path. */
final class Matrices {
    private Matrices() {}

    /** {@code out[v * w.rows() + r] = W[r] . x[v * w.cols() ..]} for rows {@code [r0, r1)} and {@code nVec} vectors. */
    static void mul(QMatrix w, int r0, int r1, float[] x, int nVec, float[] out) {
        Kernels.matmul(Formats.of(w.type()), w, r0, r1, x, w.cols(), nVec, out, w.rows());
    }
}
