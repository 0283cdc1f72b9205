package io.moeflow.kernels;

import java.lang.foreign.MemorySegment;

/**
 * IQ1_S (ggml block_iq1_s, 1.56 bits per weight): per 256 values an f16 d, 32 low index bytes and 8 uint16, each
 * with the 3 high bits of four 11-bit indices into iq1s_grid (entries of -1, 0, 1), a 3-bit scale s and the sign of
 * a shift of 1/8 (IQ1S_DELTA) for 32 values; value = d * (2s + 1) * (grid + delta). 50 bytes. As levels:
 * (8 * grid +- 1) times d * (2s + 1) / 8, the same exact product (at most 11 + 3 + 4 significant bits).
 */
final class IQ1_SFormat extends Int8LevelFormat {
    private static final int BYTES = 50, QS = 2, QH = 34;
    static final float IQ1S_DELTA = 0.125f;

    /** Eight levels {@code 8 * grid[j] + 1} (delta +1/8) and {@code 8 * grid[j] - 1} (delta -1/8) per grid entry. */
    static final long[] LEVELS_PLUS = new long[2048], LEVELS_MINUS = new long[2048];

    static {
        long[] grid = IQGrids.Iq1sGrid.TABLE;
        for (int i = 0; i < grid.length; i++) {
            for (int j = 0; j < 8; j++) {
                int g = (byte) (grid[i] >>> 8 * j);
                LEVELS_PLUS[i] |= ((8 * g + 1) & 0xFFL) << 8 * j;
                LEVELS_MINUS[i] |= ((8 * g - 1) & 0xFFL) << 8 * j;
            }
        }
    }

    IQ1_SFormat() { super(GgmlType.IQ1_S); }

    @Override
    public void dequantize(MemorySegment src, long offset, float[] dst, int dstOff, int n) {
        checkRange(src, offset, dst, dstOff, n);
        long[] grid = IQGrids.Iq1sGrid.TABLE;
        int y = dstOff;
        for (int i = 0; i < n / 256; i++) {
            long o = offset + (long) i * BYTES;
            float d = f16(src, o);
            for (int ib = 0; ib < 8; ++ib) {
                int qh = u16(src, o + QH + 2 * ib);
                float dl = d * (2 * ((qh >> 12) & 7) + 1);
                float delta = (qh & 0x8000) != 0 ? -IQ1S_DELTA : IQ1S_DELTA;
                for (int l = 0; l < 4; ++l) {
                    long g = grid[u8(src, o + QS + 4 * ib + l) | (((qh >> 3 * l) & 7) << 8)];
                    for (int j = 0; j < 8; ++j) dst[y++] = dl * ((byte) (g >>> 8 * j) + delta);
                }
            }
        }
    }

    @Override
    void unpack(MemorySegment s, long o, byte[] q, int qo, float[] sc, int so) {
        float d = f16(s, o);
        for (int ib = 0; ib < 8; ++ib) {
            int qh = u16(s, o + QH + 2 * ib), qs4 = s.get(U32, o + QS + 4 * ib);
            long[] levels = (qh & 0x8000) != 0 ? LEVELS_MINUS : LEVELS_PLUS;
            for (int l = 0; l < 4; ++l)
                putLevels(q, qo + 32 * ib + 8 * l, levels[(qs4 >>> 8 * l) & 0xFF | (((qh >> 3 * l) & 7) << 8)]);
            sc[so + 2 * ib] = sc[so + 2 * ib + 1] = d * (2 * ((qh >> 12) & 7) + 1) * 0.125f;
        }
    }
}
