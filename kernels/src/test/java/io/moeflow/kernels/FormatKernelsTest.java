package io.moeflow.kernels;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.Random;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/**
 * Properties every format implemented here must have: quantize/dequantize round trips within the type's error
 * bound, the vector and scalar kernels reproducing the exact dequantized weights (identity activations), and both
 * kernels agreeing with a plain dot product of the dequantized rows over many shapes, strides and offsets.
 */
class FormatKernelsTest {
    /** Freed by the GC, not closed after this class: DeterministicKernelsTest builds its matrices here too. */
    private static final Arena ARENA = Arena.ofAuto();
    private static final int[] ROWS = {1, 3, 17, 64, 65};
    private static final int[] N_VEC = {1, 2, 3, 4, 5, 8, 9};
    /** Bytes before the matrix in its segment: not a multiple of anything, so no load is aligned. */
    private static final long OFFSET = 5;

    private static int[] colsFor(GgmlType t) {
        int bs = t.blockSize;
        return bs == 1 ? new int[] {1, 7, 33, 100} : new int[] {bs, 3 * bs, 7 * bs};
    }

    /**
     * Gaussian weights with a few larger ones, as model weights look; quantized with the format's reference quantizer.
     * The IQ and ternary types get random blocks instead ({@link RandomBlocks}: most have no reference quantizer, and
     * random bytes reach every code, grid entry and sign).
     */
    static QMatrix randomMatrix(GgmlType t, int rows, int cols, long seed) {
        Random rnd = new Random(seed);
        MemorySegment seg = ARENA.allocate(OFFSET + t.bytesFor((long) rows * cols) + 3);
        if (RandomBlocks.covers(t)) {
            RandomBlocks.fill(t, seg, OFFSET, (long) rows * cols / t.blockSize, rnd);
            return new QMatrix(t, seg, OFFSET, cols, rows);
        }
        float[] values = new float[rows * cols];
        for (int i = 0; i < values.length; i++) values[i] = (float) (rnd.nextGaussian() * (rnd.nextInt(16) == 0 ? 0.2 : 0.02));
        Formats.of(t).quantize(values, 0, values.length, seg, OFFSET);
        return new QMatrix(t, seg, OFFSET, cols, rows);
    }

    static float[] dequantizeAll(QMatrix w) {
        float[] all = new float[w.rows() * w.cols()];
        Formats.of(w.type()).dequantize(w.data(), w.offset(), all, 0, all.length);
        return all;
    }

    static float[] randomVectors(int nVec, int xStride, long seed) {
        Random rnd = new Random(seed);
        float[] x = new float[nVec * xStride];
        for (int i = 0; i < x.length; i++) x[i] = (float) rnd.nextGaussian();
        return x;
    }

    /** Checks out[v*outStride + r] against the double-precision dot product within 1e-5 of sum |w*x|. */
    static void assertMatchesNaive(String what, float[] wd, int cols, int r0, int r1, float[] x, int xStride, int nVec, float[] out, int outStride) {
        for (int v = 0; v < nVec; v++) {
            for (int r = r0; r < r1; r++) {
                double dot = 0, mag = 0;
                for (int c = 0; c < cols; c++) {
                    double p = (double) wd[r * cols + c] * x[v * xStride + c];
                    dot += p;
                    mag += Math.abs(p);
                }
                float got = out[v * outStride + r];
                if (!(Math.abs(got - dot) <= 1e-5 * mag + 1e-30))
                    fail(what + ": row " + r + " vector " + v + ": got " + got + ", expected " + dot + " (sum |w*x| " + mag + ")");
            }
        }
    }

    @ParameterizedTest
    @EnumSource(names = {"F16", "BF16", "Q8_0", "Q4_0", "Q4_1", "Q5_0", "Q5_1", "MXFP4", "IQ4_NL", "IQ4_XS", "IQ2_XXS", "IQ2_XS",
            "IQ2_S", "IQ3_XXS", "IQ3_S", "IQ1_S", "IQ1_M", "TQ1_0", "TQ2_0"})
    void vectorAndScalarKernelsMatchTheDotProductOfDequantizedRows(GgmlType t) {
        TensorFormat f = Formats.of(t);
        long seed = 1000 * t.id;
        int shape = 0;
        for (int rows : ROWS) {
            for (int cols : colsFor(t)) {
                QMatrix w = randomMatrix(t, rows, cols, seed++);
                float[] wd = dequantizeAll(w);
                // Three vector counts per matrix shape, rotating through N_VEC: every count meets several shapes.
                for (int k = 0; k < 3; k++) {
                    int nVec = N_VEC[shape++ % N_VEC.length];
                    int xStride = cols + 3, outStride = rows + 2;
                    float[] x = randomVectors(nVec, xStride, seed++);
                    String what = t + " " + rows + "x" + cols + " nVec " + nVec;
                    float[] out = new float[nVec * outStride];
                    f.matmul(w, 0, rows, x, xStride, nVec, out, outStride);
                    assertMatchesNaive(what + " vector", wd, cols, 0, rows, x, xStride, nVec, out, outStride);
                    float[] outScalar = new float[nVec * outStride];
                    f.matmulScalar(w, 0, rows, x, xStride, nVec, outScalar, outStride);
                    assertMatchesNaive(what + " scalar", wd, cols, 0, rows, x, xStride, nVec, outScalar, outStride);
                }
            }
        }
    }

    @ParameterizedTest
    @EnumSource(names = {"F16", "BF16", "Q8_0", "Q4_0", "Q4_1", "Q5_0", "Q5_1", "MXFP4", "IQ4_NL", "IQ4_XS", "IQ2_XXS", "IQ2_XS",
            "IQ2_S", "IQ3_XXS", "IQ3_S", "IQ1_S", "IQ1_M", "TQ1_0", "TQ2_0"})
    void kernelsWriteOnlyTheirRowRange(GgmlType t) {
        TensorFormat f = Formats.of(t);
        int rows = 17, cols = colsFor(t)[2], nVec = 5, xStride = cols + 1, outStride = rows + 4;
        QMatrix w = randomMatrix(t, rows, cols, 7);
        float[] x = randomVectors(nVec, xStride, 8);
        for (boolean vector : new boolean[] {true, false}) {
            float[] out = new float[nVec * outStride];
            java.util.Arrays.fill(out, Float.NaN);
            if (vector) f.matmul(w, 3, 14, x, xStride, nVec, out, outStride);
            else f.matmulScalar(w, 3, 14, x, xStride, nVec, out, outStride);
            for (int v = 0; v < nVec; v++)
                for (int r = 0; r < outStride; r++)
                    assertEquals(r >= 3 && r < 14, !Float.isNaN(out[v * outStride + r]), t + " vector=" + vector + " v " + v + " r " + r);
            assertMatchesNaive(t + " rows 3..14", dequantizeAll(w), cols, 3, 14, x, xStride, nVec, out, outStride);
        }
    }

    /** With the identity as activations each output is one weight times 1 plus zeros: the decoded weight, exactly. */
    @ParameterizedTest
    @EnumSource(names = {"F16", "BF16", "Q8_0", "Q4_0", "Q4_1", "Q5_0", "Q5_1", "MXFP4", "IQ4_NL", "IQ4_XS", "IQ2_XXS", "IQ2_XS",
            "IQ2_S", "IQ3_XXS", "IQ3_S", "IQ1_S", "IQ1_M", "TQ1_0", "TQ2_0"})
    void kernelsUseTheExactDequantizedWeights(GgmlType t) {
        TensorFormat f = Formats.of(t);
        int rows = 5, cols = t.blockSize == 1 ? 37 : 3 * t.blockSize;
        QMatrix w = randomMatrix(t, rows, cols, 99);
        float[] wd = dequantizeAll(w);
        int nVec = cols, xStride = cols, outStride = rows;
        float[] identity = new float[nVec * xStride];
        for (int v = 0; v < nVec; v++) identity[v * xStride + v] = 1f;
        for (boolean vector : new boolean[] {true, false}) {
            float[] out = new float[nVec * outStride];
            if (vector) f.matmul(w, 0, rows, identity, xStride, nVec, out, outStride);
            else f.matmulScalar(w, 0, rows, identity, xStride, nVec, out, outStride);
            for (int r = 0; r < rows; r++)
                for (int c = 0; c < cols; c++)
                    assertEquals(wd[r * cols + c], out[c * outStride + r], 0f, t + " vector=" + vector + " weight " + r + "," + c);
        }
    }

    @ParameterizedTest
    @EnumSource(names = {"F16", "BF16", "Q8_0", "Q4_0", "Q4_1", "Q5_0", "Q5_1", "MXFP4", "IQ4_NL", "IQ4_XS", "IQ2_XXS", "IQ2_XS",
            "IQ2_S", "IQ3_XXS", "IQ3_S", "IQ1_S", "IQ1_M", "TQ1_0", "TQ2_0"})
    void workerPoolWithTwoThreadsMatchesTheDotProduct(GgmlType t) {
        int rows = 200, cols = t.blockSize == 1 ? 72 : 4 * t.blockSize, nVec = 3;
        QMatrix w = randomMatrix(t, rows, cols, 5);
        float[] x = randomVectors(nVec, cols, 6);
        float[] out = new float[nVec * rows];
        try (WorkerPool pool = new WorkerPool(2)) {
            pool.matmul(w, x, nVec, out);
        }
        assertMatchesNaive(t + " pool", dequantizeAll(w), cols, 0, rows, x, cols, nVec, out, rows);
    }

    /**
     * Round trip error bounds, per block: for the scaled types at most the step the type's scale allows (half a step
     * from rounding, a whole step where ggml clamps the extreme code, plus the f16 rounding of scale and minimum).
     */
    @ParameterizedTest
    @EnumSource(names = {"F16", "BF16", "Q8_0", "Q4_0", "Q4_1", "Q5_0", "Q5_1", "MXFP4"})
    void quantizeThenDequantizeStaysWithinTheTypesErrorBound(GgmlType t) {
        Random rnd = new Random(42 + t.id);
        int n = 64 * 32;
        float[] v = new float[n];
        for (int i = 0; i < n; i++) v[i] = (float) (rnd.nextGaussian() * Math.pow(10, rnd.nextInt(5) - 2));
        MemorySegment seg = ARENA.allocate(t.bytesFor(n));
        TensorFormat f = Formats.of(t);
        f.quantize(v, 0, n, seg, 0);
        float[] back = new float[n];
        f.dequantize(seg, 0, back, 0, n);
        double worstRatio = 0;
        for (int b = 0; b < n / 32; b++) {
            float min = Float.MAX_VALUE, max = -Float.MAX_VALUE, amax = 0;
            for (int j = 0; j < 32; j++) {
                float x = v[b * 32 + j];
                min = Math.min(min, x);
                max = Math.max(max, x);
                amax = Math.max(amax, Math.abs(x));
            }
            for (int j = 0; j < 32; j++) {
                int i = b * 32 + j;
                double err = Math.abs(back[i] - v[i]);
                double bound = switch (t) {
                    case F16 -> Math.abs(v[i]) * 0x1p-11 + 0x1p-25;
                    case BF16 -> Math.abs(v[i]) * 0x1p-8;
                    case Q8_0 -> amax / 127 * 0.57;
                    case Q4_0 -> amax / 8 * 1.01;
                    case Q5_0 -> amax / 16 * 1.02;
                    case Q4_1 -> (max - min) / 15 * 0.51 + amax * 0x1p-10;
                    case Q5_1 -> (max - min) / 31 * 0.52 + amax * 0x1p-10;
                    // Half the table's widest gap (8 to 12, times d <= amax / 8), or the clamp of values above 12d (> 1.5 * 2^k).
                    case MXFP4 -> amax / 4 * 1.001;
                    default -> throw new AssertionError(t);
                };
                assertTrue(err <= bound, t + " value " + i + ": " + v[i] + " came back as " + back[i] + ", error " + err + " > " + bound);
                if (bound > 0) worstRatio = Math.max(worstRatio, err / bound);
            }
        }
        // The bound must be near what the data reaches, or the test would pass a much worse quantizer.
        assertTrue(worstRatio > 0.25, t + ": worst error is only " + worstRatio + " of the bound; bound too loose");
    }
}
