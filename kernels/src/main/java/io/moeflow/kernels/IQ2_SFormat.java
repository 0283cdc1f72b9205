package io.moeflow.kernels;

import java.lang.foreign.MemorySegment;
import jdk.incubator.vector.FloatVector;

/**
 * IQ2_S (ggml block_iq2_s, 2.56 bits per weight): per 256 values an f16 d, 32 low index bytes, 32 sign bytes
 * (8 explicit sign bits each), 8 bytes of high index bits (2 per group of 8 values; 10-bit indices into iq2s_grid)
 * and 8 scale bytes (a 4-bit s per 16 values); value = d * (0.5 + s) * 0.25 * grid * sign. 82 bytes. Exact in
 * float like IQ2_XXS (grid bytes 8, 25, 43).
 */
final class IQ2_SFormat extends Int8LevelFormat {
    private static final int BYTES = 82, QS = 2, SIGNS = 34, QH = 66, SCALES = 74;
    /** ggml's grid as bytes, for the one-vector kernel. */
    private static final byte[] GRID = entryBytes(IQGrids.Iq2sGrid.TABLE);

    IQ2_SFormat() { super(GgmlType.IQ2_S); }

    @Override
    public void dequantize(MemorySegment src, long offset, float[] dst, int dstOff, int n) {
        checkRange(src, offset, dst, dstOff, n);
        long[] grid = IQGrids.Iq2sGrid.TABLE;
        int[] kmask = IQGrids.KmaskIq2xs.TABLE;
        int y = dstOff;
        for (int i = 0; i < n / 256; i++) {
            long o = offset + (long) i * BYTES;
            float d = f16(src, o);
            for (int ib32 = 0; ib32 < 8; ++ib32) {
                int scale = u8(src, o + SCALES + ib32), qh = u8(src, o + QH + ib32);
                float db0 = d * (0.5f + (scale & 0xf)) * 0.25f;
                float db1 = d * (0.5f + (scale >> 4)) * 0.25f;
                for (int l = 0; l < 4; ++l) {
                    float dl = l / 2 == 0 ? db0 : db1;
                    long g = grid[u8(src, o + QS + 4 * ib32 + l) | (qh << (8 - 2 * l) & 0x300)];
                    int signs = u8(src, o + SIGNS + 4 * ib32 + l);
                    for (int j = 0; j < 8; ++j) dst[y++] = dl * (int) ((g >>> 8 * j) & 0xFF) * ((signs & kmask[j]) != 0 ? -1.f : 1.f);
                }
            }
        }
    }

    @Override
    void unpack(MemorySegment s, long o, byte[] q, int qo, float[] sc, int so) {
        long[] grid = IQGrids.Iq2sGrid.TABLE;
        float d = f16(s, o);
        for (int ib32 = 0; ib32 < 8; ++ib32) {
            int scale = u8(s, o + SCALES + ib32), qh = u8(s, o + QH + ib32);
            int qs4 = s.get(U32, o + QS + 4 * ib32), signs4 = s.get(U32, o + SIGNS + 4 * ib32);
            for (int l = 0; l < 4; ++l) {
                long g = grid[(qs4 >>> 8 * l) & 0xFF | (qh << (8 - 2 * l) & 0x300)];
                putLevels(q, qo + 32 * ib32 + 8 * l, signed(g, SIGN_MASKS[(signs4 >>> 8 * l) & 0xFF]));
            }
            sc[so + 2 * ib32] = d * (0.5f + (scale & 0xf)) * 0.25f;
            sc[so + 2 * ib32 + 1] = d * (0.5f + (scale >> 4)) * 0.25f;
        }
    }

    /** One vector: each group of 8 is its grid entry with its sign bits flipped, times the scale, in registers. */
    @Override
    float dotRow(MemorySegment s, long base, int cols, float[] x, int xo, Scratch sc) {
        FloatVector a0 = zero(), a1 = a0;
        for (int c = 0; c < cols; c += 256) {
            long o = base + (long) (c / 256) * BYTES;
            float d = f16(s, o);
            for (int ib32 = 0; ib32 < 8; ++ib32) {
                int scale = u8(s, o + SCALES + ib32), qh = u8(s, o + QH + ib32);
                int qs4 = s.get(U32, o + QS + 4 * ib32), signs4 = s.get(U32, o + SIGNS + 4 * ib32);
                int xc = xo + c + 32 * ib32;
                for (int l = 0; l < 4; l += 2) {
                    float db = d * (0.5f + (l < 2 ? scale & 0xf : scale >> 4)) * 0.25f;
                    int e0 = (qs4 >>> 8 * l) & 0xFF | (qh << (8 - 2 * l) & 0x300), e1 = (qs4 >>> 8 * l + 8) & 0xFF | (qh << (6 - 2 * l) & 0x300);
                    a0 = grid8(GRID, e0, SIGN_BITS, 8 * ((signs4 >>> 8 * l) & 0xFF)).mul(db).fma(x8(x, xc + 8 * l), a0);
                    a1 = grid8(GRID, e1, SIGN_BITS, 8 * ((signs4 >>> 8 * l + 8) & 0xFF)).mul(db).fma(x8(x, xc + 8 * l + 8), a1);
                }
            }
        }
        return VectorMath.sum(a0.add(a1));
    }
}
