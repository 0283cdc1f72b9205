package io.moeflow.kernels;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

/**
 * Q4_1 (ggml block_q4_1): per 32 values an f16 scale d, an f16 minimum m and 16 bytes of 4-bit quants (low nibbles
 * values 0..15, high nibbles 16..31); value = q * d + m. 20 bytes.
 */
final class Q4_1Format extends Q4Family {
    private static final int BYTES = 20;

    Q4_1Format() { super(GgmlType.Q4_1, true); }

    @Override
    public void dequantize(MemorySegment src, long offset, float[] dst, int dstOff, int n) {
        checkRange(src, offset, dst, dstOff, n);
        for (int b = 0; b < n / QK; b++) {
            long o = offset + (long) b * BYTES;
            int y = dstOff + b * QK;
            float d = f16(src, o), m = f16(src, o + 2);
            for (int j = 0; j < QK / 2; j++) {
                int q = src.get(ValueLayout.JAVA_BYTE, o + 4 + j) & 0xFF;
                dst[y + j] = (q & 0x0F) * d + m;
                dst[y + j + QK / 2] = (q >>> 4) * d + m;
            }
        }
    }

    /** quantize_row_q4_1_ref: d = (max - min) / 15, m = min, q = min(15, (int) ((v - min) / d + 0.5)). */
    @Override
    public void quantize(float[] src, int srcOff, int n, MemorySegment dst, long offset) {
        checkRange(dst, offset, src, srcOff, n);
        for (int b = 0; b < n / QK; b++) {
            int s = srcOff + b * QK;
            long o = offset + (long) b * BYTES;
            float min = Float.MAX_VALUE, max = -Float.MAX_VALUE;
            for (int j = 0; j < QK; j++) {
                float v = src[s + j];
                if (v < min) min = v;
                if (v > max) max = v;
            }
            float d = (max - min) / 15;
            float id = d != 0f ? 1.0f / d : 0f;
            putF16(dst, o, d);
            putF16(dst, o + 2, min);
            for (int j = 0; j < QK / 2; j++) {
                int q0 = Math.min(15, (int) ((src[s + j] - min) * id + 0.5f));
                int q1 = Math.min(15, (int) ((src[s + QK / 2 + j] - min) * id + 0.5f));
                dst.set(ValueLayout.JAVA_BYTE, o + 4 + j, (byte) (q0 | q1 << 4));
            }
        }
    }
}
