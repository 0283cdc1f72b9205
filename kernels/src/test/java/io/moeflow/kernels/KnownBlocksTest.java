package io.moeflow.kernels;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.lang.foreign.MemorySegment;
import org.junit.jupiter.api.Test;

/**
 * Blocks built by hand from ggml's format definitions (ggml-common.h, ggml-quants.c), with the values they must
 * decode to, and inputs whose reference quantization (quantize_row_*_ref) can be worked out by hand.
 */
class KnownBlocksTest {
    /** Little-endian bytes of the given 16-bit values. */
    private static byte[] le16(int... halves) {
        byte[] b = new byte[2 * halves.length];
        for (int i = 0; i < halves.length; i++) {
            b[2 * i] = (byte) halves[i];
            b[2 * i + 1] = (byte) (halves[i] >>> 8);
        }
        return b;
    }

    private static byte[] concat(byte[]... parts) {
        int n = 0;
        for (byte[] p : parts) n += p.length;
        byte[] all = new byte[n];
        int o = 0;
        for (byte[] p : parts) {
            System.arraycopy(p, 0, all, o, p.length);
            o += p.length;
        }
        return all;
    }

    /** 16 quant bytes whose low nibble of byte j is j and high nibble is 15 - j. */
    private static byte[] nibbleRamp() {
        byte[] qs = new byte[16];
        for (int j = 0; j < 16; j++) qs[j] = (byte) (j | (15 - j) << 4);
        return qs;
    }

    private static float[] dequantize(GgmlType t, byte[] block) {
        int n = (int) (block.length / t.typeSize * t.blockSize);
        float[] out = new float[n];
        Formats.of(t).dequantize(MemorySegment.ofArray(block), 0, out, 0, n);
        // The vector kernel must decode the same values: one-hot activations pick each weight out (finite weights
        // only: an infinite one times the zeros would make every output NaN).
        for (float f : out) if (!Float.isFinite(f)) return out;
        float[] identity = new float[n * n];
        for (int i = 0; i < n; i++) identity[i * n + i] = 1f;
        float[] picked = new float[n];
        Formats.of(t).matmul(new QMatrix(t, MemorySegment.ofArray(block), 0, n, 1), 0, 1, identity, n, n, picked, 1);
        for (int i = 0; i < n; i++) assertEquals(out[i], picked[i], 0f, t + " vector kernel, value " + i);
        return out;
    }

    private static byte[] quantize(GgmlType t, float[] values) {
        byte[] bytes = new byte[(int) t.bytesFor(values.length)];
        Formats.of(t).quantize(values, 0, values.length, MemorySegment.ofArray(bytes), 0);
        return bytes;
    }

    @Test
    void q8_0DecodesQuantTimesScale() {
        byte[] qs = new byte[32];
        for (int j = 0; j < 32; j++) qs[j] = (byte) (j * 8 - 128);
        float[] v = dequantize(GgmlType.Q8_0, concat(le16(0x3800), qs)); // d = 0.5
        for (int j = 0; j < 32; j++) assertEquals((j * 8 - 128) * 0.5f, v[j], 0f, "value " + j);
    }

    @Test
    void q8_0QuantizesWithCRoundingAwayFromZero() {
        float[] x = new float[32];
        x[0] = 127f; // amax 127: d = 1
        x[1] = -63.5f; // roundf: -64 (Math.round would give -63)
        x[2] = 0.5f;
        x[3] = -0.5f;
        x[4] = 2.4999998f;
        byte[] expected = new byte[34];
        expected[1] = 0x3C; // f16 1.0
        expected[2] = 127;
        expected[3] = -64;
        expected[4] = 1;
        expected[5] = -1;
        expected[6] = 2;
        assertArrayEquals(expected, quantize(GgmlType.Q8_0, x));
        assertArrayEquals(new byte[34], quantize(GgmlType.Q8_0, new float[32]), "all-zero block: d = 0, q = 0");
    }

    @Test
    void q4_0DecodesLowNibblesFirstOffsetByEight() {
        float[] v = dequantize(GgmlType.Q4_0, concat(le16(0x3800), nibbleRamp())); // d = 0.5
        for (int j = 0; j < 16; j++) {
            assertEquals((j - 8) * 0.5f, v[j], 0f, "low nibble " + j);
            assertEquals((15 - j - 8) * 0.5f, v[j + 16], 0f, "high nibble " + j);
        }
    }

    @Test
    void q4_0QuantizesAsTheReference() {
        float[] x = new float[32];
        x[0] = -8f; // largest magnitude, negative: d = -8 / -8 = 1
        x[1] = 7f; // 7 + 8.5 -> 15
        x[2] = 7.6f; // 16.1 -> 16, clamped to 15
        x[3] = -7.9f; // 0.6 -> 0
        x[16] = -0.5f; // 8.0 -> 8
        x[17] = 0.49f; // 8.99 -> 8 (truncation)
        byte[] expected = new byte[18];
        expected[1] = 0x3C;
        for (int j = 0; j < 16; j++) expected[2 + j] = (byte) 0x88;
        expected[2] = (byte) 0x80;
        expected[3] = (byte) 0x8F;
        expected[4] = (byte) 0x8F;
        expected[5] = (byte) 0x80;
        assertArrayEquals(expected, quantize(GgmlType.Q4_0, x));
    }

    @Test
    void q4_1DecodesQuantTimesScalePlusMinimum() {
        float[] v = dequantize(GgmlType.Q4_1, concat(le16(0x3400, 0xBC00), nibbleRamp())); // d = 0.25, m = -1
        for (int j = 0; j < 16; j++) {
            assertEquals(j * 0.25f - 1f, v[j], 0f, "low nibble " + j);
            assertEquals((15 - j) * 0.25f - 1f, v[j + 16], 0f, "high nibble " + j);
        }
    }

    @Test
    void q4_1QuantizesAsTheReference() {
        float[] x = new float[32];
        x[0] = -1f; // min: code 0
        x[1] = 2f; // max: d = 3 / 15 = 0.2 (f16 0x3266), code 15
        x[2] = 0.1f; // 1.1 * 5 + 0.5 -> 6
        // the other values are 0: 1 * 5 + 0.5 -> 5
        byte[] expected = new byte[20];
        System.arraycopy(le16(0x3266, 0xBC00), 0, expected, 0, 4);
        for (int j = 0; j < 16; j++) expected[4 + j] = 0x55;
        expected[4] = 0x50;
        expected[5] = 0x5F;
        expected[6] = 0x56;
        assertArrayEquals(expected, quantize(GgmlType.Q4_1, x));
    }

    private static final int QH = 0b1001_0010_0100_1001_0010_0100_1001_0010 | 1; // bit j set for j % 3 == 0, and bit 31

    private static int fifthBit(int j) {
        return (QH >>> j & 1) << 4;
    }

    @Test
    void q5_0TakesTheFifthBitFromQh() {
        float[] v = dequantize(GgmlType.Q5_0, concat(le16(0x3800, QH & 0xFFFF, QH >>> 16), nibbleRamp()));
        for (int j = 0; j < 16; j++) {
            assertEquals(((j | fifthBit(j)) - 16) * 0.5f, v[j], 0f, "value " + j);
            assertEquals(((15 - j | fifthBit(j + 16)) - 16) * 0.5f, v[j + 16], 0f, "value " + (j + 16));
        }
    }

    @Test
    void q5_1TakesTheFifthBitFromQhAndAddsTheMinimum() {
        float[] v = dequantize(GgmlType.Q5_1, concat(le16(0x3400, 0xBC00, QH & 0xFFFF, QH >>> 16), nibbleRamp()));
        for (int j = 0; j < 16; j++) {
            assertEquals((j | fifthBit(j)) * 0.25f - 1f, v[j], 0f, "value " + j);
            assertEquals((15 - j | fifthBit(j + 16)) * 0.25f - 1f, v[j + 16], 0f, "value " + (j + 16));
        }
    }

    @Test
    void q5QuantizersSetQhBits() {
        float[] x = new float[32];
        x[0] = -16f; // Q5_0: d = 1, code 0
        x[1] = 15f; // code 31: fifth bit set
        x[17] = 0.6f; // code 17: fifth bit set (bit 17)
        byte[] q50 = quantize(GgmlType.Q5_0, x);
        assertEquals(0x3C00, (q50[0] & 0xFF) | (q50[1] & 0xFF) << 8, "d");
        // every other value is 0 -> code 16, fifth bit set too; only value 0 (code 0) lacks it
        int qh = (q50[2] & 0xFF) | (q50[3] & 0xFF) << 8 | (q50[4] & 0xFF) << 16 | (q50[5] & 0xFF) << 24;
        assertEquals(~1, qh);
        assertEquals((byte) 0x00, q50[6], "values 0 (code 0) and 16 (code 16)");
        assertEquals((byte) 0x1F, q50[7], "values 1 (code 31) and 17 (code 17)");

        float[] y = new float[32];
        for (int j = 0; j < 32; j++) y[j] = j; // Q5_1: min 0, d = 1, code j
        byte[] q51 = quantize(GgmlType.Q5_1, y);
        assertEquals(0x3C00, (q51[0] & 0xFF) | (q51[1] & 0xFF) << 8, "d");
        assertEquals(0, (q51[2] & 0xFF) | (q51[3] & 0xFF) << 8, "m");
        int qh51 = (q51[4] & 0xFF) | (q51[5] & 0xFF) << 8 | (q51[6] & 0xFF) << 16 | (q51[7] & 0xFF) << 24;
        assertEquals(0xFFFF0000, qh51);
        for (int j = 0; j < 16; j++) assertEquals((byte) (j | j << 4), q51[8 + j], "byte " + j);
    }

    private static final float[] E2M1 = {0, 0.5f, 1, 1.5f, 2, 3, 4, 6, -0f, -0.5f, -1, -1.5f, -2, -3, -4, -6};

    @Test
    void mxfp4DecodesE2M1CodesTimesThePowerOfTwoScale() {
        byte[] qs = nibbleRamp();
        float[] v = dequantize(GgmlType.MXFP4, concat(new byte[] {127}, qs, new byte[] {(byte) 130}, qs, new byte[] {0}, qs));
        for (int j = 0; j < 16; j++) {
            assertEquals(E2M1[j], v[j], 0f, "e = 127 (scale 1), code " + j);
            assertEquals(E2M1[15 - j], v[j + 16], 0f, "e = 127, high code " + (15 - j));
            assertEquals(E2M1[j] * 8, v[32 + j], 0f, "e = 130 (scale 8), code " + j);
            assertEquals(E2M1[j] * 0x1p-127f, v[64 + j], 0f, "e = 0 (scale 2^-127, subnormal), code " + j);
        }
        assertEquals(Float.intBitsToFloat(0x00200000), v[65], 0f, "code 1 at e = 0 is 2^-128");
    }

    @Test
    void mxfp4QuantizesToTheNearestCodeLowerIndexOnTies() {
        float[] x = new float[32];
        x[0] = 6f; // amax 6: e = floor(log2 6) - 2 + 127 = 127, scale of the doubled table 0.5
        x[1] = -6f; // code 15
        x[2] = 0.25f; // tie between 0 and 0.5: code 0
        x[3] = 0.75f; // tie between 0.5 and 1: code 1
        x[4] = 5f; // tie between 4 and 6: code 6
        x[5] = -0f; // code 0
        x[16] = 1f; // code 2
        x[17] = -2.9f; // nearest -3: code 13
        byte[] expected = new byte[17];
        expected[0] = 127;
        expected[1] = 0x27;
        expected[2] = (byte) 0xDF;
        expected[4] = 0x01;
        expected[5] = 0x06;
        assertArrayEquals(expected, quantize(GgmlType.MXFP4, x));
    }

    @Test
    void mxfp4ExponentFollowsFloorOfLog2fIncludingItsRounding() {
        assertEquals(127, mxfp4Exponent(7f));
        assertEquals(128, mxfp4Exponent(8f));
        // log2f(nextDown(8)) = 3 - 8.6e-8 rounds to the float 3.0, so ggml gets e = 128, not 127.
        assertEquals(128, mxfp4Exponent(Math.nextDown(8f)));
        assertEquals(127 - 2 - 10, mxfp4Exponent(0x1p-10f));
        assertEquals(0, mxfp4Exponent(0f));
    }

    private static int mxfp4Exponent(float amax) {
        float[] x = new float[32];
        x[3] = -amax;
        return quantize(GgmlType.MXFP4, x)[0] & 0xFF;
    }

    @Test
    void f16DecodesEveryClassOfValue() {
        int[] bits = {0x3C00, 0xC000, 0x0001, 0x03FF, 0x0400, 0x7BFF, 0x8000, 0x3555, 0x7C00, 0xFC00, 0x7E00, 0x8001};
        float[] expected = {1f, -2f, 0x1p-24f, 1023 * 0x1p-24f, 0x1p-14f, 65504f, -0f, 0.333251953125f,
                Float.POSITIVE_INFINITY, Float.NEGATIVE_INFINITY, Float.NaN, -0x1p-24f};
        float[] v = dequantize(GgmlType.F16, le16(bits));
        for (int i = 0; i < bits.length; i++) assertEquals(expected[i], v[i], 0f, "f16 0x" + Integer.toHexString(bits[i]));

        // The vector kernel decodes halves with integer ops: a row of 33 copies of each value, times ones.
        int cols = 33;
        int[] rows = new int[bits.length * cols];
        for (int r = 0; r < bits.length; r++) java.util.Arrays.fill(rows, r * cols, (r + 1) * cols, bits[r]);
        QMatrix w = new QMatrix(GgmlType.F16, MemorySegment.ofArray(le16(rows)), 0, cols, bits.length);
        float[] ones = new float[cols];
        java.util.Arrays.fill(ones, 1f);
        float[] out = new float[bits.length];
        Formats.of(GgmlType.F16).matmul(w, 0, bits.length, ones, cols, 1, out, bits.length);
        for (int r = 0; r < bits.length; r++)
            assertEquals(cols * expected[r], out[r], 0f, "33 x f16 0x" + Integer.toHexString(bits[r]));
    }

    @Test
    void f16QuantizesRoundingToNearestEven() {
        float[] x = {1f, 1f + 0x1p-11f, 1f + 3 * 0x1p-11f, 65520f, -65519f, 0x1p-25f, 0x1.8p-25f};
        int[] expected = {0x3C00, 0x3C00, 0x3C02, 0x7C00, 0xFBFF, 0x0000, 0x0001};
        assertArrayEquals(le16(expected), quantize(GgmlType.F16, x));
    }

    @Test
    void bf16DecodesTopHalfOfAFloatAndQuantizesLikeGgml() {
        float[] v = dequantize(GgmlType.BF16, le16(0x3F80, 0xC040, 0x0001, 0xFF80));
        assertArrayEquals(new float[] {1f, -3f, 0x1p-133f, Float.NEGATIVE_INFINITY}, v, 0f);
        float[] x = {Float.intBitsToFloat(0x3F808000), Float.intBitsToFloat(0x3F818000), Float.intBitsToFloat(0x3F808001),
                Float.intBitsToFloat(0x7F800001), Float.MAX_VALUE, -2f};
        // ties to even, ties to even (up), above the tie, signalling NaN made quiet, overflow to infinity, exact
        assertArrayEquals(le16(0x3F80, 0x3F82, 0x3F81, 0x7FC0, 0x7F80, 0xC000), quantize(GgmlType.BF16, x));
    }

    @Test
    void badArgumentsAreNamed() {
        TensorFormat q8 = Formats.of(GgmlType.Q8_0);
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> q8.dequantize(MemorySegment.ofArray(new byte[34]), 0, new float[40], 0, 40));
        assertTrue(e.getMessage().contains("block size"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> q8.dequantize(MemorySegment.ofArray(new byte[34]), 1, new float[32], 0, 32));
        assertTrue(e.getMessage().contains("outside a segment"), e.getMessage());
        QMatrix w = new QMatrix(GgmlType.Q8_0, MemorySegment.ofArray(new byte[68]), 0, 32, 2);
        e = assertThrows(IllegalArgumentException.class, () -> q8.matmul(w, 0, 2, new float[40], 32, 2, new float[4], 2));
        assertTrue(e.getMessage().contains("x holds 40"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> q8.matmul(w, 0, 3, new float[32], 32, 1, new float[4], 2));
        assertTrue(e.getMessage().contains("rows [0, 3)"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class,
                () -> Formats.of(GgmlType.Q4_0).matmulScalar(w, 0, 2, new float[32], 32, 1, new float[2], 2));
        assertTrue(e.getMessage().contains("Q8_0"), e.getMessage());
    }
}
