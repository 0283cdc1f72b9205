package io.moeflow.kernels;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import java.lang.foreign.MemorySegment;
import java.util.Random;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/**
 * Matrix kernels of Q2_K .. Q6_K: the Vector API kernel and the scalar kernel both equal the dot product of the
 * exactly dequantized rows with x (float64), within 1e-5 of sum |w * x|, over awkward shapes and strides.
 */
class KQuantMatmulTest {
    private static final int[] ROWS = {1, 3, 17, 64, 65};
    private static final int[] COLS = {256, 768, 1024};
    private static final int[] NVEC = {1, 2, 3, 4, 5, 8, 9};
    /** Leading bytes before the matrix: an odd offset, so nothing is aligned. */
    private static final int LEAD = 13;

    /** A random matrix quantized with {@code t}, placed at byte {@link #LEAD} of a larger segment. */
    static QMatrix randomMatrix(GgmlType t, int rows, int cols, long seed) {
        Random rnd = new Random(seed);
        float[] w = new float[rows * cols];
        for (int i = 0; i < w.length; i++) w[i] = (float) (0.05 * rnd.nextGaussian() + (i % 97 == 0 ? 0.2 : 0));
        MemorySegment seg = MemorySegment.ofArray(new byte[LEAD + (int) t.bytesFor(w.length) + 7]);
        Formats.of(t).quantize(w, 0, w.length, seg, LEAD);
        return new QMatrix(t, seg, LEAD, cols, rows);
    }

    static float[] dequantizedRows(QMatrix w) {
        float[] d = new float[w.rows() * w.cols()];
        Formats.of(w.type()).dequantize(w.data(), w.offset(), d, 0, d.length);
        return d;
    }

    /** Checks out[v*outStride + r] for r0 <= r < r1 against float64 dot products, and that nothing else was written. */
    static void check(String what, QMatrix w, float[] deq, int r0, int r1, float[] x, int xStride, int nVec, float[] out, int outStride) {
        int cols = w.cols();
        for (int i = 0; i < out.length; i++) {
            int v = i / outStride, r = i % outStride;
            boolean written = v < nVec && r >= r0 && r < r1;
            if (!written) {
                if (!Float.isNaN(out[i])) fail(what + ": wrote outside its rows/vectors at index " + i);
                continue;
            }
            double dot = 0, mag = 0;
            for (int c = 0; c < cols; c++) {
                double p = (double) deq[r * cols + c] * x[v * xStride + c];
                dot += p;
                mag += Math.abs(p);
            }
            double err = Math.abs(out[i] - dot);
            if (!(err <= 1e-5 * mag + 1e-30))
                fail(what + ": row " + r + " vector " + v + ": " + out[i] + " vs " + dot + " (|err| " + err + ", sum|w*x| " + mag + ")");
        }
    }

    static float[] nanArray(int n) {
        float[] a = new float[n];
        java.util.Arrays.fill(a, Float.NaN);
        return a;
    }

    static float[] randomX(Random rnd, int n) {
        float[] x = new float[n];
        for (int i = 0; i < n; i++) x[i] = (float) rnd.nextGaussian();
        return x;
    }

    /**
     * 21 shapes cycling through the row, column and vector counts (every value of each set appears several times, in
     * varying combinations; the full product would mostly time the JIT warming up).
     */
    @ParameterizedTest
    @EnumSource(names = {"Q2_K", "Q3_K", "Q4_K", "Q5_K", "Q6_K"})
    void vectorAndScalarKernelsEqualDequantizedDot(GgmlType t) {
        TensorFormat f = Formats.of(t);
        Random rnd = new Random(42);
        for (int i = 0; i < 21; i++) {
            int rows = ROWS[i % ROWS.length], cols = COLS[i % COLS.length], nVec = NVEC[(i + i / 7) % NVEC.length];
            String shape = t + " " + rows + "x" + cols + " nVec " + nVec;
            QMatrix w = randomMatrix(t, rows, cols, 1000L * rows + cols);
            float[] deq = dequantizedRows(w);
            int xStride = cols + 5, outStride = rows + 3;
            float[] x = randomX(rnd, nVec * xStride);
            float[] out = nanArray(nVec * outStride);
            f.matmul(w, 0, rows, x, xStride, nVec, out, outStride);
            check(shape + " vector", w, deq, 0, rows, x, xStride, nVec, out, outStride);
            out = nanArray(nVec * outStride);
            f.matmulScalar(w, 0, rows, x, xStride, nVec, out, outStride);
            check(shape + " scalar", w, deq, 0, rows, x, xStride, nVec, out, outStride);
            if (rows >= 3) {
                // a middle slice of rows, as WorkerPool's chunks call it
                out = nanArray(nVec * outStride);
                f.matmul(w, 1, rows - 1, x, xStride, nVec, out, outStride);
                check(shape + " vector rows 1.." + (rows - 1), w, deq, 1, rows - 1, x, xStride, nVec, out, outStride);
            }
        }
    }

    @ParameterizedTest
    @EnumSource(names = {"Q2_K", "Q3_K", "Q4_K", "Q5_K", "Q6_K"})
    void workerPoolWithTwoThreads(GgmlType t) {
        Random rnd = new Random(5);
        try (WorkerPool pool = new WorkerPool(2)) {
            for (int rows : new int[] {65, 200}) {
                for (int nVec : new int[] {1, 3, 4}) {
                    QMatrix w = randomMatrix(t, rows, 512, rows * 31L + nVec);
                    float[] deq = dequantizedRows(w);
                    int xStride = 512 + 16, outStride = rows + 1;
                    float[] x = randomX(rnd, nVec * xStride);
                    float[] out = nanArray(nVec * outStride);
                    pool.matmul(w, x, xStride, nVec, out, outStride);
                    check(t + " pool " + rows + " rows nVec " + nVec, w, deq, 0, rows, x, xStride, nVec, out, outStride);
                }
            }
        }
    }

    /** The vector row decoders used by the batched kernels give exactly ggml's dequantized values. */
    @ParameterizedTest
    @EnumSource(names = {"Q2_K", "Q3_K", "Q4_K", "Q5_K", "Q6_K"})
    void vectorRowDecoderIsBitExact(GgmlType t) {
        KQuants.RowDecoder dec = switch (t) {
            case Q2_K -> Q2_KFormat::dequantizeRow;
            case Q3_K -> Q3_KFormat::dequantizeRow;
            case Q4_K -> Q4_KFormat::dequantizeRow;
            case Q5_K -> Q5_KFormat::dequantizeRow;
            default -> Q6_KFormat::dequantizeRow;
        };
        // Q4_K, Q5_K and Q6_K decode at every width (128-bit: one 8-byte load in two parts); Q2_K/Q3_K need 8+ lanes
        boolean everyWidth = t == GgmlType.Q4_K || t == GgmlType.Q5_K || t == GgmlType.Q6_K;
        Assumptions.assumeTrue((everyWidth ? KQuants.STEP_BYTES : KQuants.byteSpeciesPerFloatLane()) != null,
                "no vector decoder for this vector width");
        QMatrix w = randomMatrix(t, 4, 1024, 17);
        float[] deq = dequantizedRows(w);
        float[] row = new float[1024];
        for (int r = 0; r < 4; r++) {
            dec.decode(w.data(), w.rowOffset(r), 4, row, new float[32]);
            for (int c = 0; c < 1024; c++)
                if (Float.floatToRawIntBits(row[c]) != Float.floatToRawIntBits(deq[r * 1024 + c]))
                    fail(t + " row " + r + " col " + c + ": " + row[c] + " vs " + deq[r * 1024 + c]);
        }
    }

    /** The kernels agree when the activations are exactly zero except one column: picks out one weight per row. */
    @ParameterizedTest
    @EnumSource(names = {"Q2_K", "Q3_K", "Q4_K", "Q5_K", "Q6_K"})
    void unitVectorPicksOutDequantizedColumn(GgmlType t) {
        QMatrix w = randomMatrix(t, 5, 512, 99);
        float[] deq = dequantizedRows(w);
        for (int c : new int[] {0, 31, 32, 200, 511}) {
            float[] x = new float[2 * 512];
            x[c] = 1f;
            x[512 + c] = -2f;
            float[] out = new float[2 * 5], outScalar = new float[2 * 5];
            Formats.of(t).matmul(w, 0, 5, x, 512, 2, out, 5);
            Formats.of(t).matmulScalar(w, 0, 5, x, 512, 2, outScalar, 5);
            for (int r = 0; r < 5; r++) {
                assertEquals(deq[r * 512 + c], out[r], 0f, t + " row " + r + " col " + c);
                assertEquals(-2 * deq[r * 512 + c], out[5 + r], 0f);
                assertEquals(deq[r * 512 + c], outScalar[r], 0f);
            }
        }
        assertTrue(deq.length == 5 * 512);
    }
}
