package io.moeflow.kernels;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

/**
 * Q5_1 (ggml block_q5_1): per 32 values an f16 scale d, an f16 minimum m, a 32-bit word qh of fifth bits (bit j
 * for value j) and 16 bytes of low nibbles (byte j: value j low, value j + 16 high); value = q * d + m. 24 bytes.
 */
final class Q5_1Format extends Q5Family {
    private static final int BYTES = 24;

    Q5_1Format() { super(GgmlType.Q5_1, true); }

    @Override
    public void dequantize(MemorySegment src, long offset, float[] dst, int dstOff, int n) {
        checkRange(src, offset, dst, dstOff, n);
        for (int b = 0; b < n / QK; b++) {
            long o = offset + (long) b * BYTES;
            int y = dstOff + b * QK;
            float d = f16(src, o), m = f16(src, o + 2);
            int qh = src.get(I32, o + 4);
            for (int j = 0; j < QK / 2; j++) {
                int q = src.get(ValueLayout.JAVA_BYTE, o + 8 + j) & 0xFF;
                dst[y + j] = ((q & 0x0F) | ((qh >>> j) << 4 & 0x10)) * d + m;
                dst[y + j + QK / 2] = ((q >>> 4) | (qh >>> (j + 12) & 0x10)) * d + m;
            }
        }
    }

    /** quantize_row_q5_1_ref: d = (max - min) / 31, m = min, q = (int) ((v - min) / d + 0.5) (ggml does not clamp). */
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
            float d = (max - min) / 31;
            float id = d != 0f ? 1.0f / d : 0f;
            putF16(dst, o, d);
            putF16(dst, o + 2, min);
            int qh = 0;
            for (int j = 0; j < QK / 2; j++) {
                int q0 = (int) ((src[s + j] - min) * id + 0.5f) & 0xFF;
                int q1 = (int) ((src[s + QK / 2 + j] - min) * id + 0.5f) & 0xFF;
                dst.set(ValueLayout.JAVA_BYTE, o + 8 + j, (byte) ((q0 & 0x0F) | (q1 & 0x0F) << 4));
                qh |= (q0 >>> 4 & 1) << j | (q1 >>> 4 & 1) << (j + QK / 2);
            }
            dst.set(I32, o + 4, qh);
        }
    }
}
