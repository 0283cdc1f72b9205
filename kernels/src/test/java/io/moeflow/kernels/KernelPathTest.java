package io.moeflow.kernels;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;

/** {@link Kernels} as the one place the kernel path is chosen, at whatever width and setting this JVM runs. */
class KernelPathTest {
    @Test
    void theSettingComesFromTheJvmPropertyHere() {
        // no configuration in a plain JVM: -Dmoeflow.kernels.scalar (what -Pscalar passes) decides
        assertEquals(Boolean.getBoolean(Kernels.SCALAR_PROPERTY), Kernels.forcedScalar());
        if (Kernels.forcedScalar()) assertEquals(false, Kernels.vectorEnabled());
    }

    @Test
    void aLateSettingThatDisagreesIsRefusedByName() {
        Kernels.vectorEnabled(); // the path is fixed from here on
        Kernels.select(Kernels.forcedScalar()); // the same setting again: accepted
        var e = assertThrows(IllegalStateException.class, () -> Kernels.select(!Kernels.forcedScalar()));
        assertTrue(e.getMessage().contains(Kernels.SCALAR_PROPERTY), e.getMessage());
    }

    @Test
    void eachProductTakesThePathItsFormatAndVectorCountCallFor() {
        TensorFormat q8 = Formats.of(GgmlType.Q8_0), q4k = Formats.of(GgmlType.Q4_K), f32 = Formats.of(GgmlType.F32);
        if (!Kernels.vectorEnabled()) {
            for (TensorFormat f : new TensorFormat[] {q8, q4k, f32})
                for (int n : new int[] {1, DequantGemm.MIN_VECTORS, 64}) assertEquals(Kernels.Path.SCALAR, Kernels.path(f, n));
            return;
        }
        // the tiled GEMM only for many vectors and a format whose decode is vector code (Q8_0 at 4, 8 or 16 lanes)
        assertEquals(Kernels.Path.VECTOR, Kernels.path(q8, DequantGemm.MIN_VECTORS - 1));
        boolean q8Shapes = Math.min(16, Kernels.LANES) == 4 || Math.min(16, Kernels.LANES) == 8 || Math.min(16, Kernels.LANES) == 16;
        assertEquals(q8Shapes ? Kernels.Path.TILED : Kernels.Path.VECTOR, Kernels.path(q8, DequantGemm.MIN_VECTORS));
        assertEquals(Kernels.Path.VECTOR, Kernels.path(q4k, 64), "K-quants decode a row once in their own kernels");
        assertEquals(Kernels.Path.VECTOR, Kernels.path(f32, 64), "F32 needs no decode");
        assertEquals(jdk.incubator.vector.FloatVector.SPECIES_PREFERRED.length(), Kernels.LANES);
    }
}
