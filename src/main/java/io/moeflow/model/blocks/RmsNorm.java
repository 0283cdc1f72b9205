package io.moeflow.model.blocks;

import io.moeflow.kernels.VectorMath;

/** RMSNorm as ggml computes it: {@code x / sqrt(mean(x^2) + eps) * w}, the mean summed in double. */
public final class RmsNorm {
    private RmsNorm() {}

    /** Normalizes {@code rows} rows of length {@code n} from {@code x} into {@code y} (may alias), times {@code w} (nullable). */
    public static void apply(float[] x, int xo, float[] y, int yo, int rows, int n, int stride, float[] w, float eps) {
        for (int r = 0; r < rows; r++) {
            int xi = xo + r * stride, yi = yo + r * stride;
            float mean = (float) (VectorMath.sumSquares(x, xi, n) / n);
            float scale = (float) (1.0 / Math.sqrt(mean + eps));
            if (w == null) for (int i = 0; i < n; i++) y[yi + i] = x[xi + i] * scale;
            else for (int i = 0; i < n; i++) y[yi + i] = (x[xi + i] * scale) * w[i];
        }
    }
}
