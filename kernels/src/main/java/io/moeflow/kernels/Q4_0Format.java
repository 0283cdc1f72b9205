package io.moeflow.kernels;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

/**
 * Q4_0 (ggml block_q4_0): per 32 values an f16 scale d and 16 bytes of 4-bit quants; byte j holds value j in its
 * low nibble and value j + 16 in its high nibble; value = (q - 8) * d. 18 bytes.
 */
final class Q4_0Format extends Q4Family {
    private static final int BYTES = 18;

    Q4_0Format() { super(GgmlType.Q4_0, false); }

    @Override
    public void dequantize(MemorySegment src, long offset, float[] dst, int dstOff, int n) {
        checkRange(src, offset, dst, dstOff, n);
        for (int b = 0; b < n / QK; b++) {
            long o = offset + (long) b * BYTES;
            int y = dstOff + b * QK;
            float d = f16(src, o);
            for (int j = 0; j < QK / 2; j++) {
                int q = src.get(ValueLayout.JAVA_BYTE, o + 2 + j) & 0xFF;
                dst[y + j] = ((q & 0x0F) - 8) * d;
                dst[y + j + QK / 2] = ((q >>> 4) - 8) * d;
            }
        }
    }

    /** quantize_row_q4_0_ref: d = (value of largest magnitude) / -8, q = min(15, (int) (v / d + 8.5)). */
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
            float d = max / -8;
            float id = d != 0f ? 1.0f / d : 0f;
            putF16(dst, o, d);
            for (int j = 0; j < QK / 2; j++) {
                int q0 = Math.min(15, (int) (src[s + j] * id + 8.5f));
                int q1 = Math.min(15, (int) (src[s + QK / 2 + j] * id + 8.5f));
                dst.set(ValueLayout.JAVA_BYTE, o + 2 + j, (byte) (q0 | q1 << 4));
            }
        }
    }
}
