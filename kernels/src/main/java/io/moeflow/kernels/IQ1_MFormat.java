package io.moeflow.kernels;

import java.lang.foreign.MemorySegment;

/**
 * IQ1_M (ggml block_iq1_m, 1.75 bits per weight): per 256 values 32 low index bytes, 16 bytes each holding the 3 high
 * index bits and the delta sign of two groups of 8 (11-bit indices into iq1s_grid), and 4 uint16 of 3-bit scales
 * (one per 16 values) whose top nibbles together are the f16 d; value = d * (2s + 1) * (grid + delta), delta +-1/8
 * (IQ1M_DELTA; ggml's dequantizer uses IQ1S_DELTA, the same 0.125) per 8 values. 56 bytes. Levels as IQ1_S.
 */
final class IQ1_MFormat extends Int8LevelFormat {
    private static final int BYTES = 56, QS = 0, QH = 32, SCALES = 48;

    IQ1_MFormat() { super(GgmlType.IQ1_M); }

    /** The f16 super-block scale spread over the top nibbles of the four scale words. */
    private static float superScale(MemorySegment s, long o) {
        int sc0 = u16(s, o + SCALES), sc1 = u16(s, o + SCALES + 2), sc2 = u16(s, o + SCALES + 4), sc3 = u16(s, o + SCALES + 6);
        return Float.float16ToFloat((short) ((sc0 >> 12) | ((sc1 >> 8) & 0x00f0) | ((sc2 >> 4) & 0x0f00) | (sc3 & 0xf000)));
    }

    @Override
    public void dequantize(MemorySegment src, long offset, float[] dst, int dstOff, int n) {
        checkRange(src, offset, dst, dstOff, n);
        long[] grid = IQGrids.Iq1sGrid.TABLE;
        float delta = IQ1_SFormat.IQ1S_DELTA;
        int y = dstOff;
        for (int i = 0; i < n / 256; i++) {
            long o = offset + (long) i * BYTES;
            float d = superScale(src, o);
            for (int ib = 0; ib < 8; ++ib) {
                int sc = u16(src, o + SCALES + 2 * (ib / 2));
                float dl1 = d * (2 * ((sc >> (6 * (ib % 2))) & 0x7) + 1);
                float dl2 = d * (2 * ((sc >> (6 * (ib % 2) + 3)) & 0x7) + 1);
                int qh0 = u8(src, o + QH + 2 * ib), qh1 = u8(src, o + QH + 2 * ib + 1);
                for (int l = 0; l < 4; ++l) {
                    // idx[l] and delta[l] of ggml's loop: groups 0, 1 from qh[0] (bits 0-3, 4-7), groups 2, 3 from qh[1]
                    int qh = l < 2 ? qh0 : qh1;
                    int idx = u8(src, o + QS + 4 * ib + l) | ((qh << (l % 2 == 0 ? 8 : 4)) & 0x700);
                    float dlt = (qh & (l % 2 == 0 ? 0x08 : 0x80)) != 0 ? -delta : delta;
                    float dl = l < 2 ? dl1 : dl2;
                    long g = grid[idx];
                    for (int j = 0; j < 8; ++j) dst[y++] = dl * ((byte) (g >>> 8 * j) + dlt);
                }
            }
        }
    }

    @Override
    void unpack(MemorySegment s, long o, byte[] q, int qo, float[] sc, int so) {
        float d = superScale(s, o);
        for (int ib = 0; ib < 8; ++ib) {
            int scale = u16(s, o + SCALES + 2 * (ib / 2)) >> 6 * (ib % 2);
            int qs4 = s.get(U32, o + QS + 4 * ib), qh2 = u16(s, o + QH + 2 * ib);
            for (int l = 0; l < 4; ++l) {
                int qh = qh2 >> 4 * l; // this group's 3 index bits and delta bit
                int idx = (qs4 >>> 8 * l) & 0xFF | ((qh << 8) & 0x700);
                putLevels(q, qo + 32 * ib + 8 * l, ((qh & 0x08) != 0 ? IQ1_SFormat.LEVELS_MINUS : IQ1_SFormat.LEVELS_PLUS)[idx]);
            }
            sc[so + 2 * ib] = d * (2 * (scale & 0x7) + 1) * 0.125f;
            sc[so + 2 * ib + 1] = d * (2 * ((scale >> 3) & 0x7) + 1) * 0.125f;
        }
    }
}
