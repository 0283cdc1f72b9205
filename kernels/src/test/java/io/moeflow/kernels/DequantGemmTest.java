package io.moeflow.kernels;

import static org.junit.jupiter.api.Assertions.assertTrue;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.SplittableRandom;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/** The tiled dequantize-then-GEMM path against a float64 dot of the exactly dequantized rows. */
class DequantGemmTest {
    @ParameterizedTest
    @EnumSource(value = GgmlType.class, names = {"F16", "BF16", "Q8_0", "Q4_0", "Q5_1", "MXFP4", "Q4_K", "Q6_K", "Q3_K"})
    void matchesExactDequantization(GgmlType type) {
        SplittableRandom rnd = new SplittableRandom(type.id);
        TensorFormat f = Formats.of(type);
        int[][] shapes = {{7, 256, 8}, {13, 512, 9}, {4, 256, 17}, {33, 768, 12}};
        for (int[] s : shapes) {
            int rows = s[0], cols = s[1], nVec = s[2], xStride = cols + 3, outStride = rows + 5;
            float[] w = new float[rows * cols];
            for (int i = 0; i < w.length; i++) w[i] = (float) rnd.nextGaussian() * 0.05f;
            try (Arena arena = Arena.ofConfined()) {
                long rowBytes = type.bytesFor(cols);
                MemorySegment seg = arena.allocate(rows * rowBytes + 7);
                for (int r = 0; r < rows; r++) f.quantize(w, r * cols, cols, seg, 7 + r * rowBytes);
                QMatrix m = new QMatrix(type, seg, 7, cols, rows);
                float[] x = new float[nVec * xStride];
                for (int i = 0; i < x.length; i++) x[i] = (float) rnd.nextGaussian();
                float[] out = new float[nVec * outStride];
                java.util.Arrays.fill(out, Float.NaN);
                DequantGemm.matmul(m, 1, rows, x, xStride, nVec, out, outStride);
                float[] row = new float[cols];
                for (int r = 0; r < rows; r++) {
                    f.dequantize(seg, m.rowOffset(r), row, 0, cols);
                    for (int v = 0; v < nVec; v++) {
                        double exact = 0, mag = 0;
                        for (int c = 0; c < cols; c++) {
                            exact += (double) row[c] * x[v * xStride + c];
                            mag += Math.abs((double) row[c] * x[v * xStride + c]);
                        }
                        float got = out[v * outStride + r];
                        if (r == 0) {
                            assertTrue(Float.isNaN(got), "row 0 is outside [1, rows) and must stay untouched");
                            continue;
                        }
                        double tol = 1e-5 * mag + 1e-6;
                        assertTrue(Math.abs(got - exact) <= tol, type + " " + rows + "x" + cols + " v" + v + " r" + r + ": " + got + " vs " + exact);
                    }
                }
            }
        }
    }
}
