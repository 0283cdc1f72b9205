package io.moeflow.kernels;

import java.util.logging.Logger;

/**
 * The one place the kernel path is chosen: whether the Vector API kernels run at all, at which width, and for
 * each matrix product which kernel ({@link #path}). The formats only say what they can do
 * ({@link TensorFormat#decodesInVectors()}, their own width limits, read from {@link #LANES}); they choose nothing.
 *
 * <p>The scalar path is taken when it is forced or when the Vector API does not work here (a native image
 * without vector support, or the incubator module missing). It is forced in one documented way: the setting
 * {@value #SCALAR_PROPERTY} = true, which the service reads as part of its configuration ({@code MoeflowConfig},
 * so also as {@code MOEFLOW_KERNELS_SCALAR} or in application.properties) and hands over with {@link #select}
 * before any kernel runs; everything else (the command-line tools, tests, benchmarks) takes it as a JVM system
 * property ({@code -D}{@value #SCALAR_PROPERTY}{@code =true}, what {@code -Pscalar} passes to the tests).
 */
public final class Kernels {
    private Kernels() {}

    /** The setting that forces the scalar kernels (a configuration key of the service, a system property elsewhere). */
    public static final String SCALAR_PROPERTY = "moeflow.kernels.scalar";

    /**
     * Float lanes of the JVM's preferred vector (4 at 128 bits, 8 at 256, 16 at 512; fewer flags such as
     * {@code -XX:MaxVectorSize} narrow it), or 0 where the Vector API is unavailable. Every format family sizes its
     * vectors and checks its width limits from this value.
     */
    static final int LANES = preferredLanes();

    /** Set by {@link #select} before the path is fixed; null: the system property decides. */
    private static Boolean selected;
    private static boolean fixed;

    /** The choice, fixed when a kernel first asks (class initialisation: a constant for the JIT from then on). */
    private static final class Choice {
        static final boolean FORCED_SCALAR = forcedScalarSetting();
        static final boolean VECTOR = !FORCED_SCALAR && vectorApiWorks();
    }

    private static synchronized boolean forcedScalarSetting() {
        fixed = true;
        return selected != null ? selected : Boolean.getBoolean(SCALAR_PROPERTY);
    }

    /**
     * The configured setting, from a caller that reads configuration (the service, at start-up, before loading a
     * model). Refused when the path was already fixed the other way (a kernel ran before the configuration was read).
     */
    public static synchronized void select(boolean forceScalar) {
        if (fixed && Choice.FORCED_SCALAR != forceScalar)
            throw new IllegalStateException(SCALAR_PROPERTY + "=" + forceScalar + " came after the kernels were chosen with "
                    + SCALAR_PROPERTY + "=" + Choice.FORCED_SCALAR + "; set it before anything computes");
        selected = forceScalar;
    }

    public static boolean vectorEnabled() {
        return Choice.VECTOR;
    }

    /** Whether {@value #SCALAR_PROPERTY} forced the scalar kernels (as opposed to the Vector API not working here). */
    public static boolean forcedScalar() {
        return Choice.FORCED_SCALAR;
    }

    /** The kernel a matrix product takes. */
    public enum Path {
        /** {@link TensorFormat#matmulScalar}. */
        SCALAR,
        /** {@link TensorFormat#matmul}: the format's own vector kernel (decoding in registers). */
        VECTOR,
        /** {@link DequantGemm}: each weight tile decoded once into floats, then a register-blocked GEMM. */
        TILED
    }

    /** Which kernel multiplies a matrix of format {@code f} by {@code nVec} vectors. */
    public static Path path(TensorFormat f, int nVec) {
        if (!Choice.VECTOR) return Path.SCALAR;
        if (nVec >= DequantGemm.MIN_VECTORS && f.decodesInVectors()) return Path.TILED;
        return Path.VECTOR;
    }

    /**
     * Rows {@code [r0, r1)} of {@code w} times {@code nVec} vectors on the {@link #path} chosen for them.
     */
    public static void matmul(TensorFormat f, QMatrix w, int r0, int r1, float[] x, int xStride, int nVec, float[] out, int outStride) {
        switch (path(f, nVec)) {
            case SCALAR -> f.matmulScalar(w, r0, r1, x, xStride, nVec, out, outStride);
            case TILED -> DequantGemm.matmul(w, r0, r1, x, xStride, nVec, out, outStride);
            case VECTOR -> f.matmul(w, r0, r1, x, xStride, nVec, out, outStride);
        }
    }

    /** A line for the start-up log. */
    public static String describe() {
        if (!Choice.VECTOR) return "scalar kernels";
        return "Vector API kernels, " + LANES * 32 + "-bit (" + LANES + " float lanes)";
    }

    private static int preferredLanes() {
        try {
            return jdk.incubator.vector.FloatVector.SPECIES_PREFERRED.length();
        } catch (Throwable t) {
            return 0;
        }
    }

    private static boolean vectorApiWorks() {
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
