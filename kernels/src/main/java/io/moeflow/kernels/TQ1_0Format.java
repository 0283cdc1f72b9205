package io.moeflow.kernels;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

/**
 * TQ1_0 (ggml block_tq1_0, ternary, 1.69 bits per weight): per 256 values 48 bytes of five trits each, 4 bytes of
 * four trits each and an f16 d. A byte b holds trits as a fixed-point fraction: trit n is
 * {@code ((uint8) (b * 3^n) * 3) >> 8}; value = (trit - 1) * d. Bytes 0..31 give values 32n + m, bytes 32..47
 * values 160 + 16n + m, the last four values 240 + 4n + j. 54 bytes.
 */
final class TQ1_0Format extends Int8LevelFormat {
    private static final int BYTES = 54, QH = 48, D = 52;
    private static final int[] POW3 = {1, 3, 9, 27, 81, 243};

    TQ1_0Format() { super(GgmlType.TQ1_0); }

    private static int trit(int b, int n) {
        return (((b * POW3[n]) & 0xFF) * 3) >> 8;
    }

    @Override
    public void dequantize(MemorySegment src, long offset, float[] dst, int dstOff, int n) {
        checkRange(src, offset, dst, dstOff, n);
        int y = dstOff;
        for (int i = 0; i < n / 256; i++) {
            long o = offset + (long) i * BYTES;
            float d = f16(src, o + D);
            for (int k = 0; k < 5; ++k)
                for (int m = 0; m < 32; ++m) dst[y++] = (float) (trit(u8(src, o + m), k) - 1) * d;
            for (int k = 0; k < 5; ++k)
                for (int m = 0; m < 16; ++m) dst[y++] = (float) (trit(u8(src, o + 32 + m), k) - 1) * d;
            for (int k = 0; k < 4; ++k)
                for (int j = 0; j < 4; ++j) dst[y++] = (float) (trit(u8(src, o + QH + j), k) - 1) * d;
        }
    }

    @Override
    void unpack(MemorySegment s, long o, byte[] q, int qo, float[] sc, int so) {
        for (int m = 0; m < 32; ++m) {
            int b = u8(s, o + m);
            for (int k = 0; k < 5; ++k) q[qo + 32 * k + m] = (byte) (trit(b, k) - 1);
        }
        for (int m = 0; m < 16; ++m) {
            int b = u8(s, o + 32 + m);
            for (int k = 0; k < 5; ++k) q[qo + 160 + 16 * k + m] = (byte) (trit(b, k) - 1);
        }
        for (int j = 0; j < 4; ++j) {
            int b = u8(s, o + QH + j);
            for (int k = 0; k < 4; ++k) q[qo + 240 + 4 * k + j] = (byte) (trit(b, k) - 1);
        }
        java.util.Arrays.fill(sc, so, so + 256 / GROUP, f16(s, o + D));
    }

    /** C's lroundf for |v| well inside the int range: halfway cases away from zero. */
    static int lroundf(float v) {
        return (int) BlockFormat.roundf(v);
    }

    /** ggml's amax = MAX(amax, fabsf(x[j])) over one 256-value block. */
    static float absMax(float[] x, int xo) {
        float amax = 0.0f;
        for (int j = 0; j < 256; j++) {
            float v = Math.abs(x[xo + j]);
            amax = amax > v ? amax : v;
        }
        return amax;
    }

    /** Five (or four, then shifted up one trit) trits as a base-3 fixed-point fraction of 256, rounded up. */
    private static byte packTrits(float[] x, int xo, int stride, int count, float id) {
        int q = 0;
        for (int k = 0; k < count; ++k) q = q * 3 + lroundf(x[xo + k * stride] * id) + 1;
        if (count == 4) q *= 3;
        return (byte) ((q * 256 + (243 - 1)) / 243);
    }

    /** quantize_row_tq1_0_ref: d = the largest magnitude, trits lroundf(x / d) + 1. */
    @Override
    public boolean quantizes() {
        return true;
    }

    @Override
    public void quantize(float[] src, int srcOff, int n, MemorySegment dst, long offset) {
        checkRange(dst, offset, src, srcOff, n);
        for (int i = 0; i < n / 256; i++) {
            long o = offset + (long) i * BYTES;
            int x = srcOff + 256 * i;
            float d = absMax(src, x);
            float id = d != 0 ? 1.0f / d : 0.0f;
            dst.set(U16, o + D, Float.floatToFloat16(d));
            for (int m = 0; m < 32; ++m) dst.set(ValueLayout.JAVA_BYTE, o + m, packTrits(src, x + m, 32, 5, id));
            for (int m = 0; m < 16; ++m) dst.set(ValueLayout.JAVA_BYTE, o + 32 + m, packTrits(src, x + 160 + m, 16, 5, id));
            for (int j = 0; j < 4; ++j) dst.set(ValueLayout.JAVA_BYTE, o + QH + j, packTrits(src, x + 240 + j, 4, 4, id));
        }
    }
}
