package io.moeflow.kernels;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.Base64;
import java.util.Random;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/**
 * The IQ and ternary formats against ggml's reference code ({@link GgmlReferenceVectors}: block bytes and the floats
 * ggml's dequantize_row_* makes of them, rows and the bytes ggml's reference quantizers make of them), and their
 * vector and scalar kernels against the float64 dot product of the exact dequantization.
 */
class IQFormatsTest {
    private static final String ALL = "IQ4_NL|IQ4_XS|IQ2_XXS|IQ2_XS|IQ2_S|IQ3_XXS|IQ3_S|IQ1_S|IQ1_M|TQ1_0|TQ2_0";
    private static final Arena ARENA = Arena.ofShared();
    /** Bytes before a matrix in its segment, so no load is aligned. */
    private static final long OFFSET = 5;

    @AfterAll
    static void close() {
        ARENA.close();
    }

    private static byte[] bytes(String base64) {
        return Base64.getDecoder().decode(base64);
    }

    private static float[] floats(String base64) {
        byte[] b = bytes(base64);
        float[] f = new float[b.length / 4];
        ByteBuffer.wrap(b).order(ByteOrder.LITTLE_ENDIAN).asFloatBuffer().get(f);
        return f;
    }

    private static String field(GgmlType t, String suffix) throws ReflectiveOperationException {
        return (String) GgmlReferenceVectors.class.getDeclaredField(t.name() + suffix).get(null);
    }

    // ------------------------------------------------------------------ ggml's values for known bytes

    @ParameterizedTest
    @EnumSource(names = {"IQ4_NL", "IQ4_XS", "IQ2_XXS", "IQ2_XS", "IQ2_S", "IQ3_XXS", "IQ3_S", "IQ1_S", "IQ1_M", "TQ1_0", "TQ2_0"})
    void knownBytesDecodeToGgmlsValues(GgmlType t) throws ReflectiveOperationException {
        byte[] block = bytes(field(t, "_BYTES"));
        float[] expected = floats(field(t, "_VALUES"));
        int n = expected.length;
        assertEquals(t.bytesFor(n), block.length, "vector size");
        TensorFormat f = Formats.of(t);
        float[] got = new float[n + 3];
        f.dequantize(MemorySegment.ofArray(block), 0, got, 3, n);
        for (int i = 0; i < n; i++)
            if (Float.floatToRawIntBits(expected[i]) != Float.floatToRawIntBits(got[3 + i]))
                fail(t + " value " + i + ": ggml " + expected[i] + ", got " + got[3 + i]);

        // Both kernels must use exactly these weights: one-hot activations pick each one out.
        QMatrix w = new QMatrix(t, MemorySegment.ofArray(block), 0, n, 1);
        float[] identity = new float[n * n];
        for (int i = 0; i < n; i++) identity[i * n + i] = 1f;
        for (boolean vector : new boolean[] {true, false}) {
            float[] picked = new float[n];
            if (vector) f.matmul(w, 0, 1, identity, n, n, picked, 1);
            else f.matmulScalar(w, 0, 1, identity, n, n, picked, 1);
            for (int i = 0; i < n; i++) assertEquals(expected[i], picked[i], 0f, t + (vector ? " vector" : " scalar") + " kernel, weight " + i);
        }
    }

    // ------------------------------------------------------------------ ggml's bytes for known rows

    @ParameterizedTest
    @EnumSource(names = {"IQ4_NL", "IQ4_XS", "TQ1_0", "TQ2_0"})
    void quantizersAreByteIdenticalWithGgmlsReference(GgmlType t) throws ReflectiveOperationException {
        float[] x = floats(GgmlReferenceVectors.QUANT_INPUT);
        byte[] expected = bytes(field(t, "_QUANT"));
        int cols = GgmlReferenceVectors.QUANT_COLS;
        long rowBytes = t.bytesFor(cols);
        byte[] got = new byte[expected.length];
        TensorFormat f = Formats.of(t);
        for (int r = 0; r < GgmlReferenceVectors.QUANT_ROWS; r++) // row by row, as the reference was run
            f.quantize(x, r * cols, cols, MemorySegment.ofArray(got), r * rowBytes);
        for (int b = 0; b < expected.length / t.typeSize; b++) {
            int from = b * t.typeSize, to = from + t.typeSize;
            if (!java.util.Arrays.equals(expected, from, to, got, from, to))
                fail(t + " block " + b + ": ggml " + hex(expected, from, to) + "\n got " + hex(got, from, to));
        }
    }

    private static String hex(byte[] b, int from, int to) {
        return java.util.HexFormat.of().formatHex(b, from, to);
    }

    /**
     * The rows hold all-zero blocks after non-zero ones (IQ4_NL's reference then keeps the previous block's codes),
     * and none at a row start (where ggml's codes are uninitialized memory, so no reference exists).
     */
    @Test
    void quantizerRowsCoverAllZeroBlocks() {
        float[] x = floats(GgmlReferenceVectors.QUANT_INPUT);
        int zeroBlocks = 0;
        for (int b = 0; b < x.length / 32; b++) {
            boolean zero = true;
            for (int j = 0; j < 32; j++) zero &= x[32 * b + j] == 0f;
            if (zero) {
                assertTrue(32 * b % GgmlReferenceVectors.QUANT_COLS != 0, "block " + b + " starts a row");
                zeroBlocks++;
            }
        }
        assertTrue(zeroBlocks >= 2, zeroBlocks + " all-zero blocks");
        // A row starting with zeros: d = 0, so whatever codes, every value decodes to 0.
        float[] back = KQuantFormatsTest.roundTrip(GgmlType.IQ4_NL, new float[64]);
        for (float v : back) assertEquals(0f, v, 0f);
    }

    /** Relative RMS error on Gaussian weights with outliers: about that of other 4-bit types. */
    @ParameterizedTest
    @EnumSource(names = {"IQ4_NL", "IQ4_XS"})
    void iq4RoundTripErrorIsThatOfA4BitType(GgmlType t) {
        Random rnd = new Random(3 + t.id);
        int n = 256 * 32;
        float[] v = new float[n];
        for (int i = 0; i < n; i++) v[i] = (float) (rnd.nextGaussian() * (rnd.nextInt(16) == 0 ? 0.2 : 0.02));
        float[] back = KQuantFormatsTest.roundTrip(t, v);
        double se = 0, sx = 0;
        for (int i = 0; i < n; i++) {
            se += (double) (back[i] - v[i]) * (back[i] - v[i]);
            sx += (double) v[i] * v[i];
        }
        double rel = Math.sqrt(se / sx);
        System.out.println(t + " relative RMS error " + rel);
        assertTrue(rel < 0.15 && rel > 0.02, t + " relative RMS error " + rel);
    }

    @ParameterizedTest
    @EnumSource(names = {"IQ2_XXS", "IQ2_XS", "IQ2_S", "IQ3_XXS", "IQ3_S", "IQ1_S", "IQ1_M"})
    void typesWithoutAReferenceQuantizerSaySo(GgmlType t) {
        var e = assertThrows(UnsupportedOperationException.class,
                () -> Formats.of(t).quantize(new float[256], 0, 256, MemorySegment.ofArray(new byte[t.typeSize]), 0));
        assertTrue(e.getMessage().contains(t.name()) && e.getMessage().contains("importance matrix"), e.getMessage());
    }

    // ------------------------------------------------------------------ kernels

    /** A matrix of random blocks ({@link RandomBlocks}) after {@link #OFFSET} bytes. */
    static QMatrix randomMatrix(GgmlType t, int rows, int cols, long seed) {
        long blocks = (long) rows * cols / t.blockSize;
        MemorySegment seg = ARENA.allocate(OFFSET + blocks * t.typeSize + 3);
        RandomBlocks.fill(t, seg, OFFSET, blocks, new Random(seed));
        return new QMatrix(t, seg, OFFSET, cols, rows);
    }

    private static final int[] ROWS = {1, 3, 17, 65};
    private static final int[] N_VEC = {1, 2, 3, 4, 5, 8, 9};

    @ParameterizedTest
    @EnumSource(names = {"IQ4_NL", "IQ4_XS", "IQ2_XXS", "IQ2_XS", "IQ2_S", "IQ3_XXS", "IQ3_S", "IQ1_S", "IQ1_M", "TQ1_0", "TQ2_0"})
    void vectorAndScalarKernelsMatchTheDotProductOfDequantizedRows(GgmlType t) {
        TensorFormat f = Formats.of(t);
        int bs = t.blockSize;
        long seed = 1000L * t.id;
        int shape = 0;
        for (int rows : ROWS) {
            for (int cols : new int[] {bs, 3 * bs, 7 * bs}) {
                QMatrix w = randomMatrix(t, rows, cols, seed++);
                float[] wd = FormatKernelsTest.dequantizeAll(w);
                for (int k = 0; k < 3; k++) {
                    int nVec = N_VEC[shape++ % N_VEC.length];
                    int xStride = cols + 3, outStride = rows + 2;
                    float[] x = FormatKernelsTest.randomVectors(nVec, xStride, seed++);
                    String what = t + " " + rows + "x" + cols + " nVec " + nVec;
                    float[] out = new float[nVec * outStride];
                    f.matmul(w, 0, rows, x, xStride, nVec, out, outStride);
                    FormatKernelsTest.assertMatchesNaive(what + " vector", wd, cols, 0, rows, x, xStride, nVec, out, outStride);
                    float[] outScalar = new float[nVec * outStride];
                    f.matmulScalar(w, 0, rows, x, xStride, nVec, outScalar, outStride);
                    FormatKernelsTest.assertMatchesNaive(what + " scalar", wd, cols, 0, rows, x, xStride, nVec, outScalar, outStride);
                }
            }
        }
    }

    @ParameterizedTest
    @EnumSource(names = {"IQ4_NL", "IQ4_XS", "IQ2_XXS", "IQ2_XS", "IQ2_S", "IQ3_XXS", "IQ3_S", "IQ1_S", "IQ1_M", "TQ1_0", "TQ2_0"})
    void kernelsWriteOnlyTheirRowRangeAndMatchThroughTheWorkerPool(GgmlType t) {
        TensorFormat f = Formats.of(t);
        int rows = 17, cols = 2 * Math.max(t.blockSize, 256), nVec = 5, xStride = cols + 1, outStride = rows + 4;
        QMatrix w = randomMatrix(t, rows, cols, 7);
        float[] wd = FormatKernelsTest.dequantizeAll(w);
        float[] x = FormatKernelsTest.randomVectors(nVec, xStride, 8);
        for (boolean vector : new boolean[] {true, false}) {
            float[] out = new float[nVec * outStride];
            java.util.Arrays.fill(out, Float.NaN);
            if (vector) f.matmul(w, 3, 14, x, xStride, nVec, out, outStride);
            else f.matmulScalar(w, 3, 14, x, xStride, nVec, out, outStride);
            for (int v = 0; v < nVec; v++)
                for (int r = 0; r < outStride; r++)
                    assertEquals(r >= 3 && r < 14, !Float.isNaN(out[v * outStride + r]), t + " vector=" + vector + " v " + v + " r " + r);
            FormatKernelsTest.assertMatchesNaive(t + " rows 3..14", wd, cols, 3, 14, x, xStride, nVec, out, outStride);
        }
        int poolRows = 200;
        QMatrix big = randomMatrix(t, poolRows, cols, 9);
        float[] xs = FormatKernelsTest.randomVectors(3, cols, 10);
        float[] out = new float[3 * poolRows];
        try (WorkerPool pool = new WorkerPool(2)) {
            pool.matmul(big, xs, 3, out);
        }
        FormatKernelsTest.assertMatchesNaive(t + " pool", FormatKernelsTest.dequantizeAll(big), cols, 0, poolRows, xs, cols, 3, out, poolRows);
    }

    /** Repeated calls give the same bits: the lane sums are taken in a fixed order. */
    @Test
    void vectorKernelResultsDoNotChangeBetweenCalls() {
        QMatrix w = randomMatrix(GgmlType.IQ2_XXS, 9, 512, 21);
        float[] x = FormatKernelsTest.randomVectors(5, 512, 22);
        TensorFormat f = Formats.of(GgmlType.IQ2_XXS);
        float[] first = new float[5 * 9];
        f.matmul(w, 0, 9, x, 512, 5, first, 9);
        for (int i = 0; i < 2000; i++) { // long enough for C2 to compile the kernel
            float[] again = new float[5 * 9];
            f.matmul(w, 0, 9, x, 512, 5, again, 9);
            assertArrayEquals(first, again, "call " + i);
        }
    }

    @ParameterizedTest
    @EnumSource(names = {"IQ4_NL", "IQ4_XS", "IQ2_XXS", "IQ1_M", "TQ1_0"})
    void badArgumentsAreNamed(GgmlType t) {
        TensorFormat f = Formats.of(t);
        MemorySegment seg = MemorySegment.ofArray(new byte[t.typeSize]);
        int bs = t.blockSize;
        var e = assertThrows(IllegalArgumentException.class, () -> f.dequantize(seg, 0, new float[bs + 8], 0, bs + 8));
        assertTrue(e.getMessage().contains("block size"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> f.dequantize(seg, 1, new float[bs], 0, bs));
        assertTrue(e.getMessage().contains("outside a segment"), e.getMessage());
        QMatrix w = new QMatrix(t, MemorySegment.ofArray(new byte[2 * t.typeSize]), 0, bs, 2);
        e = assertThrows(IllegalArgumentException.class, () -> f.matmul(w, 0, 2, new float[bs + 1], bs, 2, new float[4], 2));
        assertTrue(e.getMessage().contains("x holds"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> f.matmulScalar(w, 0, 3, new float[bs], bs, 1, new float[4], 2));
        assertTrue(e.getMessage().contains("rows [0, 3)"), e.getMessage());
        QMatrix q8 = new QMatrix(GgmlType.Q8_0, MemorySegment.ofArray(new byte[34 * 8]), 0, 256, 1);
        e = assertThrows(IllegalArgumentException.class, () -> f.matmul(q8, 0, 1, new float[256], 256, 1, new float[1], 1));
        assertTrue(e.getMessage().contains("Q8_0"), e.getMessage());
    }
}
