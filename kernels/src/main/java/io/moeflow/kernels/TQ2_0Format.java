package io.moeflow.kernels;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

/**
 * TQ2_0 (ggml block_tq2_0, ternary, 2.06 bits per weight): per 256 values 64 bytes of 2-bit codes and an f16 d;
 * byte {@code 32h + m} holds, in bit pair l, value {@code 128h + 32l + m}; value = (code - 1) * d. 66 bytes.
 */
final class TQ2_0Format extends Int8LevelFormat {
    private static final int BYTES = 66, D = 64;

    TQ2_0Format() { super(GgmlType.TQ2_0); }

    @Override
    public void dequantize(MemorySegment src, long offset, float[] dst, int dstOff, int n) {
        checkRange(src, offset, dst, dstOff, n);
        int y = dstOff;
        for (int i = 0; i < n / 256; i++) {
            long o = offset + (long) i * BYTES;
            float d = f16(src, o + D);
            for (int j = 0; j < 64; j += 32)
                for (int l = 0; l < 4; ++l)
                    for (int m = 0; m < 32; ++m) dst[y++] = (float) (((u8(src, o + j + m) >> (l * 2)) & 3) - 1) * d;
        }
    }

    @Override
    void unpack(MemorySegment s, long o, byte[] q, int qo, float[] sc, int so) {
        for (int j = 0; j < 64; j += 32)
            for (int m = 0; m < 32; m += 8) {
                long codes = s.get(U64, o + j + m);
                for (int l = 0; l < 4; ++l) {
                    long t = (codes >>> 2 * l) & 0x0303030303030303L;
                    // t - 1 in each byte without borrows: set the top bits, subtract, put the top bits back
                    putLevels(q, qo + 4 * j + 32 * l + m, ((t | HIGHS) - ONES) ^ HIGHS);
                }
            }
        java.util.Arrays.fill(sc, so, so + 256 / GROUP, f16(s, o + D));
    }

    /** quantize_row_tq2_0_ref: d = the largest magnitude, codes lroundf(x / d) + 1. */
    @Override
    public boolean quantizes() {
        return true;
    }

    @Override
    public void quantize(float[] src, int srcOff, int n, MemorySegment dst, long offset) {
        checkRange(dst, offset, src, srcOff, n);
        int x = srcOff;
        for (int i = 0; i < n / 256; i++) {
            long o = offset + (long) i * BYTES;
            float amax = TQ1_0Format.absMax(src, x);
            float d = amax;
            float id = d != 0 ? 1.0f / d : 0.0f;
            dst.set(U16, o + D, Float.floatToFloat16(d));
            for (int j = 0; j < 64; j += 32) {
                for (int m = 0; m < 32; ++m) {
                    int q = 0;
                    for (int k = 0; k < 4; ++k) {
                        int xi = TQ1_0Format.lroundf(src[x + m + k * 32] * id) + 1;
                        q += (xi & 3) << (2 * k);
                    }
                    dst.set(ValueLayout.JAVA_BYTE, o + j + m, (byte) q);
                }
                x += 4 * 32;
            }
        }
    }
}
