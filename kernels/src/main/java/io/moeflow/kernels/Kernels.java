package io.moeflow.kernels;

import java.util.logging.Logger;

/**
 * Chooses between the Vector API kernels and the scalar ones. The scalar path is taken when the system
 * property {@code moeflow.kernels.scalar=true} forces it or when the Vector API does not work here
 * (a native image without vector support, or the incubator module missing).
 */
public final class Kernels {
    private Kernels() {}

    private static final boolean VECTOR = detect();

    public static boolean vectorEnabled() {
        return VECTOR;
    }

    /**
     * Rows {@code [r0, r1)} of {@code w} times {@code nVec} vectors on the chosen path: the scalar kernel, the
     * format's vector kernel for few vectors, or the dequantize-once tiled GEMM for many.
     */
    public static void matmul(TensorFormat f, QMatrix w, int r0, int r1, float[] x, int xStride, int nVec, float[] out, int outStride) {
        if (!VECTOR) f.matmulScalar(w, r0, r1, x, xStride, nVec, out, outStride);
        else if (nVec >= DequantGemm.MIN_VECTORS && DequantGemm.fastDecode(w.type())) DequantGemm.matmul(w, r0, r1, x, xStride, nVec, out, outStride);
        else f.matmul(w, r0, r1, x, xStride, nVec, out, outStride);
    }

    /** A line for the start-up log. */
    public static String describe() {
        if (!VECTOR) return "scalar kernels";
        var s = jdk.incubator.vector.FloatVector.SPECIES_PREFERRED;
        return "Vector API kernels, " + s.vectorBitSize() + "-bit (" + s.length() + " float lanes)";
    }

    private static boolean detect() {
        if (Boolean.getBoolean("moeflow.kernels.scalar")) return false;
        try {
            float[] a = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16};
            var s = jdk.incubator.vector.FloatVector.SPECIES_PREFERRED;
            float sum = jdk.incubator.vector.FloatVector.fromArray(s, a, 0)
                    .reduceLanes(jdk.incubator.vector.VectorOperators.MAX);
            return sum > 0;
        } catch (Throwable t) {
            Logger.getLogger(Kernels.class.getName()).warning("Vector API unavailable, using scalar kernels: " + t);
            return false;
        }
    }
}
