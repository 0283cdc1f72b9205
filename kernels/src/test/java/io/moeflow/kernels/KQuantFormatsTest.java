package io.moeflow.kernels;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.util.Random;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;
import org.junit.jupiter.api.Test;

/** Q2_K .. Q6_K: hand-built blocks, quantization error, requantization, argument checks. */
class KQuantFormatsTest {
    private static final ValueLayout.OfShort SHORT_LE = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);

    static float[] dequantize(GgmlType t, byte[] block) {
        float[] out = new float[256];
        Formats.of(t).dequantize(MemorySegment.ofArray(block), 0, out, 0, 256);
        return out;
    }

    static void putF16(byte[] b, int off, float v) {
        MemorySegment.ofArray(b).set(SHORT_LE, off, Float.floatToFloat16(v));
    }

    // ------------------------------------------------------------------ hand-built blocks

    /** Q4_K: d = 1, dmin = 0.5; scales 1..8 except sub-block 6 = 40 and min of 7 = 50 (both using the top 2 bits). */
    @Test
    void q4KHandBuiltBlock() {
        byte[] b = new byte[144];
        putF16(b, 0, 1f);
        putF16(b, 2, 0.5f);
        int[] sc = {1, 2, 3, 4, 5, 6, 40, 8};
        int[] mn = {1, 1, 1, 1, 2, 2, 2, 50};
        // j < 4: scale in byte j, min in byte j + 4 (6 bits each)
        for (int j = 0; j < 4; j++) { b[4 + j] = (byte) sc[j]; b[4 + j + 4] = (byte) mn[j]; }
        // j >= 4: low 4 bits in byte j + 4 (scale low nibble, min high nibble), top 2 bits in bits 6-7 of byte j - 4 / j
        for (int j = 4; j < 8; j++) {
            b[4 + j + 4] = (byte) ((sc[j] & 0xF) | ((mn[j] & 0xF) << 4));
            b[4 + j - 4] |= (byte) ((sc[j] >> 4) << 6);
            b[4 + j] |= (byte) ((mn[j] >> 4) << 6);
        }
        // byte 32g + l: low nibble l % 16 (value 64g + l), high nibble 15 - l % 16 (value 64g + 32 + l)
        for (int g = 0; g < 4; g++)
            for (int l = 0; l < 32; l++) b[16 + 32 * g + l] = (byte) ((l % 16) | ((15 - l % 16) << 4));
        float[] y = dequantize(GgmlType.Q4_K, b);
        for (int i = 0; i < 256; i++) {
            int j = i / 32, l = i % 32;
            int q = j % 2 == 0 ? l % 16 : 15 - l % 16;
            assertEquals(1f * sc[j] * q - 0.5f * mn[j], y[i], 0f, "value " + i);
        }
        assertEquals(40f * 15 - 1f, y[6 * 32 + 15], 0f); // sub-block 6 (low nibble), l = 15: q = 15
        assertEquals(-25f, y[7 * 32 + 15], 0f);          // q = 0: just -dmin * 50
    }

    /** Q5_K: as Q4_K plus a fifth bit: qh[l] = 0x55 (even l: low-nibble values +16) or 0xAA (odd l: high-nibble +16). */
    @Test
    void q5KHandBuiltBlock() {
        byte[] b = new byte[176];
        putF16(b, 0, 1f);
        putF16(b, 2, 1f);
        int[] sc = {1, 2, 3, 4, 5, 6, 7, 8};
        int[] mn = {0, 1, 2, 3, 4, 5, 6, 7};
        for (int j = 0; j < 4; j++) { b[4 + j] = (byte) sc[j]; b[4 + j + 4] = (byte) mn[j]; }
        for (int j = 4; j < 8; j++) b[4 + j + 4] = (byte) ((sc[j] & 0xF) | ((mn[j] & 0xF) << 4));
        for (int l = 0; l < 32; l++) b[16 + l] = (byte) (l % 2 == 0 ? 0x55 : 0xAA);
        for (int k = 0; k < 128; k++) b[48 + k] = (byte) 0x5A; // low nibble 10, high nibble 5
        float[] y = dequantize(GgmlType.Q5_K, b);
        for (int i = 0; i < 256; i++) {
            int j = i / 32, l = i % 32;
            boolean low = j % 2 == 0;
            int q = (low ? 10 : 5) + ((low && l % 2 == 0) || (!low && l % 2 == 1) ? 16 : 0);
            assertEquals((float) sc[j] * q - mn[j], y[i], 0f, "value " + i);
        }
        assertEquals(26f, y[0], 0f);
        assertEquals(2f * 21 - 1, y[32 + 1], 0f);
    }

    /** Q6_K: ql = 0x21, qh = 0xE4 make the four 32-value quarters of each half q = 1, 17, 34, 50 (minus 32). */
    @Test
    void q6KHandBuiltBlock() {
        byte[] b = new byte[210];
        for (int k = 0; k < 128; k++) b[k] = 0x21;
        for (int k = 0; k < 64; k++) b[128 + k] = (byte) 0xE4; // bit pairs 0,1,2,3 from low to high
        int[] sc = new int[16];
        for (int k = 0; k < 16; k++) { sc[k] = k - 8 == 0 ? 127 : (k - 8) * 9; b[192 + k] = (byte) sc[k]; }
        sc[15] = -128;
        b[192 + 15] = (byte) -128;
        putF16(b, 208, 0.25f);
        int[] q = {1 - 32, 17 - 32, 34 - 32, 50 - 32};
        float[] y = dequantize(GgmlType.Q6_K, b);
        for (int i = 0; i < 256; i++)
            assertEquals(0.25f * sc[i / 16] * q[(i % 128) / 32], y[i], 0f, "value " + i);
        assertEquals(0.25f * -72 * -31, y[0], 0f);
        assertEquals(0.25f * -128 * 18, y[255], 0f);
    }

    /**
     * Q3_K: d = 1, scale codes 24 + j (scale j - 8); qs = 0xE4 gives 2-bit level s in quarter s; hmask = 0x0F sets the
     * high bit for the first half only, so the second half subtracts 4.
     */
    @Test
    void q3KHandBuiltBlock() {
        byte[] b = new byte[110];
        for (int l = 0; l < 32; l++) b[l] = 0x0F;
        for (int k = 0; k < 64; k++) b[32 + k] = (byte) 0xE4;
        int[] code = new int[16];
        for (int j = 0; j < 16; j++) code[j] = 24 + j;
        for (int k = 0; k < 8; k++) b[96 + k] = (byte) ((code[k] & 0xF) | ((code[k + 8] & 0xF) << 4));
        for (int r = 0; r < 4; r++) {
            int v = 0;
            for (int t = 0; t < 4; t++) v |= ((code[4 * t + r] >> 4) & 3) << (2 * t);
            b[104 + r] = (byte) v;
        }
        putF16(b, 108, 1f);
        float[] y = dequantize(GgmlType.Q3_K, b);
        for (int i = 0; i < 256; i++) {
            int s = (i % 128) / 32;
            assertEquals((float) (i / 16 - 8) * (s - (i < 128 ? 0 : 4)), y[i], 0f, "value " + i);
        }
        assertEquals(-8f * 0, y[0], 0f);
        assertEquals(7f * -1, y[255], 0f);
    }

    /** Q2_K: d = 0.5, dmin = 0.25, scale byte k = k | (15 - k) << 4, qs = 0xE4: level s in quarter s of each half. */
    @Test
    void q2KHandBuiltBlock() {
        byte[] b = new byte[84];
        for (int k = 0; k < 16; k++) b[k] = (byte) (k | ((15 - k) << 4));
        for (int k = 0; k < 64; k++) b[16 + k] = (byte) 0xE4;
        putF16(b, 80, 0.5f);
        putF16(b, 82, 0.25f);
        float[] y = dequantize(GgmlType.Q2_K, b);
        for (int i = 0; i < 256; i++) {
            int k = i / 16, s = (i % 128) / 32;
            assertEquals(0.5f * k * s - 0.25f * (15 - k), y[i], 0f, "value " + i);
        }
        assertEquals(-3.75f, y[0], 0f);
        assertEquals(0.5f * 15 * 3, y[255], 0f);
    }

    // ------------------------------------------------------------------ quantization error

    /**
     * ggml's test-quantize-fns: data 0.1 + 2 cos(i), 4096 values, error sqrt(sum d^2) / n below 0.0075 (2-bit),
     * 0.004 (3-bit) or 0.002.
     */
    @ParameterizedTest
    @EnumSource(names = {"Q2_K", "Q3_K", "Q4_K", "Q5_K", "Q6_K"})
    void quantizationErrorWithinGgmlTestThresholds(GgmlType t) {
        int n = 32 * 128;
        float[] x = new float[n];
        for (int i = 0; i < n; i++) x[i] = (float) (0.1 + 2 * Math.cos((float) i));
        float[] y = roundTrip(t, x);
        double sum = 0;
        for (int i = 0; i < n; i++) sum += (double) (x[i] - y[i]) * (x[i] - y[i]);
        float err = (float) Math.sqrt(sum) / n;
        float max = t == GgmlType.Q2_K ? 0.0075f : t == GgmlType.Q3_K ? 0.0040f : 0.002f;
        assertTrue(err < max, t + " total quantization error " + err + " >= " + max);
    }

    /** Gaussian weights: relative RMS error about halves per extra bit. */
    @ParameterizedTest
    @EnumSource(names = {"Q2_K", "Q3_K", "Q4_K", "Q5_K", "Q6_K"})
    void relativeRmsErrorOnGaussianData(GgmlType t) {
        Random rnd = new Random(7);
        int n = 256 * 64;
        float[] x = new float[n];
        for (int i = 0; i < n; i++) x[i] = (float) (0.02 * rnd.nextGaussian());
        float[] y = roundTrip(t, x);
        double se = 0, sx = 0;
        for (int i = 0; i < n; i++) { se += (double) (x[i] - y[i]) * (x[i] - y[i]); sx += (double) x[i] * x[i]; }
        double rel = Math.sqrt(se / sx);
        double max = relativeBound(t);
        assertTrue(rel < max, t + " relative RMS error " + rel + " >= " + max);
        assertTrue(rel > max / 8, t + " relative RMS error " + rel + " is implausibly small");
    }

    static float[] roundTrip(GgmlType t, float[] x) {
        TensorFormat f = Formats.of(t);
        MemorySegment q = MemorySegment.ofArray(new byte[(int) t.bytesFor(x.length)]);
        f.quantize(x, 0, x.length, q, 0);
        float[] y = new float[x.length];
        f.dequantize(q, 0, y, 0, x.length);
        return y;
    }

    /** All-zero input gives all-zero output (ggml writes d = 0 and zero levels). */
    @ParameterizedTest
    @EnumSource(names = {"Q2_K", "Q3_K", "Q4_K", "Q5_K", "Q6_K"})
    void zeroBlockQuantizesToZeros(GgmlType t) {
        float[] y = roundTrip(t, new float[512]);
        for (float v : y) assertEquals(0f, v, 0f);
    }

    /**
     * Values already on a Q4_K grid come back as the same bytes: the min/scale search finds the grid again (checked on
     * 256 blocks). For the other types the search can settle on a different but equally good grid, so there only the
     * values are checked: requantizing moves them by much less than the quantization error itself.
     */
    @ParameterizedTest
    @EnumSource(names = {"Q2_K", "Q3_K", "Q4_K", "Q5_K", "Q6_K"})
    void requantizingDequantizedValues(GgmlType t) {
        Random rnd = new Random(11);
        int n = 256 * 256;
        float[] x = new float[n];
        for (int i = 0; i < n; i++) x[i] = (float) rnd.nextGaussian();
        TensorFormat f = Formats.of(t);
        byte[] q1 = new byte[(int) t.bytesFor(n)];
        f.quantize(x, 0, n, MemorySegment.ofArray(q1), 0);
        float[] y1 = new float[n];
        f.dequantize(MemorySegment.ofArray(q1), 0, y1, 0, n);
        byte[] q2 = new byte[q1.length];
        f.quantize(y1, 0, n, MemorySegment.ofArray(q2), 0);
        float[] y2 = new float[n];
        f.dequantize(MemorySegment.ofArray(q2), 0, y2, 0, n);
        int same = 0;
        for (int b = 0; b < n / 256; b++)
            if (java.util.Arrays.equals(q1, b * t.typeSize, (b + 1) * t.typeSize, q2, b * t.typeSize, (b + 1) * t.typeSize)) same++;
        System.out.println(t + ": requantization reproduced " + same + "/" + n / 256 + " blocks");
        if (t == GgmlType.Q4_K) assertArrayEquals(q1, q2, "Q4_K requantization changed bytes");
        double se = 0, sx = 0;
        for (int i = 0; i < n; i++) { se += (double) (y1[i] - y2[i]) * (y1[i] - y2[i]); sx += (double) y1[i] * y1[i]; }
        assertTrue(Math.sqrt(se / sx) < 0.5 * relativeBound(t), t + ": requantizing moved values too far");
    }

    /** Relative RMS error bounds on Gaussian data: roughly 2^-bits with a margin. */
    static double relativeBound(GgmlType t) {
        return switch (t) { case Q2_K -> 0.40; case Q3_K -> 0.20; case Q4_K -> 0.10; case Q5_K -> 0.05; default -> 0.025; };
    }

    // ------------------------------------------------------------------ argument checks

    @ParameterizedTest
    @EnumSource(names = {"Q2_K", "Q3_K", "Q4_K", "Q5_K", "Q6_K"})
    void badArgumentsGiveClearMessages(GgmlType t) {
        TensorFormat f = Formats.of(t);
        MemorySegment seg = MemorySegment.ofArray(new byte[t.typeSize]);
        var e1 = assertThrows(IllegalArgumentException.class, () -> f.dequantize(seg, 0, new float[300], 0, 100));
        assertTrue(e1.getMessage().contains("multiple of"), e1.getMessage());
        var e2 = assertThrows(IllegalArgumentException.class, () -> f.dequantize(seg, 1, new float[256], 0, 256));
        assertTrue(e2.getMessage().contains("segment"), e2.getMessage());
        var e3 = assertThrows(IllegalArgumentException.class, () -> f.dequantize(seg, 0, new float[256], 1, 256));
        assertTrue(e3.getMessage().contains("array"), e3.getMessage());
        var e4 = assertThrows(IllegalArgumentException.class, () -> f.quantize(new float[512], 0, 512, seg, 0));
        assertTrue(e4.getMessage().contains(t.name()), e4.getMessage());
    }

    @Test
    void nearestIntRoundsHalfToEvenLikeGgml() {
        assertArrayEquals(new int[] {0, 2, 2, -2, 3, -3, 4194303},
                new int[] {KQuants.nearestInt(0.5f), KQuants.nearestInt(1.5f), KQuants.nearestInt(2.5f),
                        KQuants.nearestInt(-2.5f), KQuants.nearestInt(2.51f), KQuants.nearestInt(-3.4f),
                        KQuants.nearestInt(4194303f)});
    }
}
