package io.moeflow.kernels;

import java.lang.foreign.MemorySegment;

/**
 * IQ4_XS (ggml block_iq4_xs, 4.25 bits per weight): per 256 values an f16 d, a uint16 of high scale bits, 4 bytes
 * of low scale bits (a 6-bit ls per 32 values) and 128 bytes of kvalues_iq4nl codes laid out as in IQ4_NL;
 * value = d * (ls - 32) * kvalues[code]. 136 bytes. At most 11 + 5 + 7 significant bits: exact in float.
 */
final class IQ4_XSFormat extends Int8LevelFormat {
    private static final int BYTES = 136, SCALES_H = 2, SCALES_L = 4, QS = 8;

    IQ4_XSFormat() { super(GgmlType.IQ4_XS); }

    private static int subScale(MemorySegment s, long o, int ib) {
        return ((u8(s, o + SCALES_L + ib / 2) >> 4 * (ib % 2)) & 0xf) | (((u16(s, o + SCALES_H) >> 2 * ib) & 3) << 4);
    }

    @Override
    public void dequantize(MemorySegment src, long offset, float[] dst, int dstOff, int n) {
        checkRange(src, offset, dst, dstOff, n);
        int[] kvalues = IQ4_NLFormat.KVALUES;
        int y = dstOff;
        for (int i = 0; i < n / 256; i++) {
            long o = offset + (long) i * BYTES;
            float d = f16(src, o);
            for (int ib = 0; ib < 8; ++ib) {
                float dl = d * (subScale(src, o, ib) - 32);
                for (int j = 0; j < 16; ++j) {
                    int qs = u8(src, o + QS + 16 * ib + j);
                    dst[y + j] = dl * kvalues[qs & 0xf];
                    dst[y + j + 16] = dl * kvalues[qs >> 4];
                }
                y += 32;
            }
        }
    }

    @Override
    void unpack(MemorySegment s, long o, byte[] q, int qo, float[] sc, int so) {
        float d = f16(s, o);
        for (int ib = 0; ib < 8; ++ib) {
            IQ4_NLFormat.levels(s, o + QS + 16 * ib, q, qo + 32 * ib);
            sc[so + 2 * ib] = sc[so + 2 * ib + 1] = d * (subScale(s, o, ib) - 32);
        }
    }

    /** quantize_row_iq4_xs_ref (quantize_iq4_xs without importance matrix): ggml's search with ntry = 7. */
    @Override
    public void quantize(float[] src, int srcOff, int n, MemorySegment dst, long offset) {
        checkRange(dst, offset, src, srcOff, n);
        byte[] L = new byte[256];
        float[] scales = new float[8], weight = new float[32];
        for (int ibl = 0; ibl < n / 256; ibl++) {
            long o = offset + (long) ibl * BYTES;
            IQ4_NLFormat.quantizeImpl(256, src, srcOff + 256 * ibl, dst, o, o + SCALES_H, o + SCALES_L, scales, weight, L, 7);
        }
    }
}
