package io.moeflow.kernels;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

/**
 * Q5_0 (ggml block_q5_0): per 32 values an f16 scale d, a 32-bit word qh of fifth bits (bit j for value j) and
 * 16 bytes of low nibbles (byte j: value j low, value j + 16 high); value = (q - 16) * d. 22 bytes.
 */
final class Q5_0Format extends Q5Family {
    private static final int BYTES = 22;

    Q5_0Format() { super(GgmlType.Q5_0, false); }

    @Override
    public void dequantize(MemorySegment src, long offset, float[] dst, int dstOff, int n) {
        checkRange(src, offset, dst, dstOff, n);
        for (int b = 0; b < n / QK; b++) {
            long o = offset + (long) b * BYTES;
            int y = dstOff + b * QK;
            float d = f16(src, o);
            int qh = src.get(I32, o + 2);
            for (int j = 0; j < QK / 2; j++) {
                int q = src.get(ValueLayout.JAVA_BYTE, o + 6 + j) & 0xFF;
                dst[y + j] = (((q & 0x0F) | ((qh >>> j) << 4 & 0x10)) - 16) * d;
                dst[y + j + QK / 2] = (((q >>> 4) | (qh >>> (j + 12) & 0x10)) - 16) * d;
            }
        }
    }

    /** quantize_row_q5_0_ref: d = (value of largest magnitude) / -16, q = min(31, (int) (v / d + 16.5)). */
    @Override
    public void quantize(float[] src, int srcOff, int n, MemorySegment dst, long offset) {
        checkRange(dst, offset, src, srcOff, n);
        for (int b = 0; b < n / QK; b++) {
            int s = srcOff + b * QK;
            long o = offset + (long) b * BYTES;
            float amax = 0f, max = 0f;
            for (int j = 0; j < QK; j++) {
                float v = src[s + j];
                if (amax < Math.abs(v)) {
                    amax = Math.abs(v);
                    max = v;
                }
            }
            float d = max / -16;
            float id = d != 0f ? 1.0f / d : 0f;
            putF16(dst, o, d);
            int qh = 0;
            for (int j = 0; j < QK / 2; j++) {
                int q0 = Math.min(31, (int) (src[s + j] * id + 16.5f));
                int q1 = Math.min(31, (int) (src[s + QK / 2 + j] * id + 16.5f));
                dst.set(ValueLayout.JAVA_BYTE, o + 6 + j, (byte) ((q0 & 0x0F) | (q1 & 0x0F) << 4));
                qh |= (q0 >>> 4 & 1) << j | (q1 >>> 4 & 1) << (j + QK / 2);
            }
            dst.set(I32, o + 2, qh);
        }
    }
}
