package io.moeflow.kernels;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import java.lang.foreign.MemorySegment;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.Base64;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/**
 * The IQ and ternary formats against ggml's reference code ({@link GgmlReferenceVectors}: block bytes and the floats
 * ggml's dequantize_row_* makes of them, rows and the bytes ggml's reference quantizers make of them). Their vector and
 * scalar kernels against the float64 dot product of the exact dequantization, over odd shapes: FormatKernelsTest.
 */
class IQFormatsTest {
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
        // The one-vector kernel (its own decode in registers for the grid types) too, one weight at a time.
        float[] one = new float[n], got1 = new float[1];
        for (int i = 0; i < n; i++) {
            one[i] = 1f;
            f.matmul(w, 0, 1, one, n, 1, got1, 1);
            assertEquals(expected[i], got1[0], 0f, t + " one-vector kernel, weight " + i);
            one[i] = 0f;
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
        assertTrue(!Formats.of(t).quantizes(), t + " says it quantizes");
    }

    // ------------------------------------------------------------------ kernels

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
