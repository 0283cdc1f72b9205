package io.moeflow.kernels;

import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorShuffle;
import jdk.incubator.vector.VectorSpecies;

/** Small dense float operations used by attention and norms, with Vector API and scalar variants. */
public final class VectorMath {
    private VectorMath() {}

    private static final VectorSpecies<Float> S = FloatVector.SPECIES_PREFERRED;
    private static final int LANES = S.length();
    /** Lane i to lane i ^ k: the butterfly steps of {@link #sum}, for the preferred species. */
    private static final VectorShuffle<Float> X8 = butterfly(8), X4 = butterfly(4), X2 = butterfly(2), X1 = butterfly(1);

    private static VectorShuffle<Float> butterfly(int k) {
        return k < LANES ? VectorShuffle.fromOp(S, i -> i ^ k) : null;
    }

    /**
     * The sum of the lanes of {@code v} in a fixed order (a butterfly: halves, then quarters, ...), the same in the
     * interpreter and in every compiled form. The Vector API leaves the order of an ADD reduction unspecified, and C2 does
     * sum in another order than the interpreter, so logits would depend on when the JIT compiled a kernel.
     */
    public static float sum(FloatVector v) {
        if (v.species() != S) return sumLanesInOrder(v);
        switch (LANES) {
            case 16: v = v.add(v.rearrange(X8)); // fall through
            case 8: v = v.add(v.rearrange(X4)); // fall through
            case 4: v = v.add(v.rearrange(X2)); // fall through
            case 2: v = v.add(v.rearrange(X1)); // fall through
            case 1: return v.lane(0);
            default: return sumLanesInOrder(v);
        }
    }

    private static float sumLanesInOrder(FloatVector v) {
        float s = 0f;
        for (int i = 0; i < v.length(); i++) s += v.lane(i);
        return s;
    }

    /** {@code sum_i a[ao+i] * b[bo+i]}. */
    public static float dot(float[] a, int ao, float[] b, int bo, int n) {
        if (!Kernels.vectorEnabled()) return dotScalar(a, ao, b, bo, n);
        FloatVector acc = FloatVector.zero(S);
        int i = 0, upper = S.loopBound(n);
        for (; i < upper; i += S.length())
            acc = FloatVector.fromArray(S, a, ao + i).fma(FloatVector.fromArray(S, b, bo + i), acc);
        float s = sum(acc);
        for (; i < n; i++) s += a[ao + i] * b[bo + i];
        return s;
    }

    public static float dotScalar(float[] a, int ao, float[] b, int bo, int n) {
        float s = 0f;
        for (int i = 0; i < n; i++) s += a[ao + i] * b[bo + i];
        return s;
    }

    /** {@code y[yo+i] += alpha * x[xo+i]}. */
    public static void axpy(float alpha, float[] x, int xo, float[] y, int yo, int n) {
        int i = 0;
        if (Kernels.vectorEnabled()) {
            FloatVector va = FloatVector.broadcast(S, alpha);
            for (int upper = S.loopBound(n); i < upper; i += S.length())
                FloatVector.fromArray(S, x, xo + i).fma(va, FloatVector.fromArray(S, y, yo + i)).intoArray(y, yo + i);
        }
        for (; i < n; i++) y[yo + i] += alpha * x[xo + i];
    }

    /** {@code sum_i x[xo+i]^2}: float products accumulated in double, as ggml's rms_norm does. */
    public static double sumSquares(float[] x, int xo, int n) {
        double s = 0;
        for (int i = 0; i < n; i++) {
            float v = x[xo + i];
            s += v * v;
        }
        return s;
    }
}
