package io.moeflow.kernels;

import java.lang.foreign.MemorySegment;
import jdk.incubator.vector.FloatVector;

/**
 * IQ2_XS (ggml block_iq2_xs, 2.31 bits per weight): per 256 values an f16 d, 32 uint16 (a 9-bit index into
 * iq2xs_grid and a 7-bit sign code, expanded by ksigns_iq2xs) and 8 scale bytes, one 4-bit scale s per 16 values;
 * value = d * (0.5 + s) * 0.25 * grid * sign. 74 bytes. Exact in float like IQ2_XXS (grid bytes 8, 25, 43).
 */
final class IQ2_XSFormat extends Int8LevelFormat {
    private static final int BYTES = 74, QS = 2, SCALES = 66;
    /** ggml's grid as bytes, for the one-vector kernel. */
    private static final byte[] GRID = entryBytes(IQGrids.Iq2xsGrid.TABLE);

    IQ2_XSFormat() { super(GgmlType.IQ2_XS); }

    @Override
    public void dequantize(MemorySegment src, long offset, float[] dst, int dstOff, int n) {
        checkRange(src, offset, dst, dstOff, n);
        long[] grid = IQGrids.Iq2xsGrid.TABLE;
        int[] ksigns = IQGrids.KsignsIq2xs.TABLE, kmask = IQGrids.KmaskIq2xs.TABLE;
        int y = dstOff;
        for (int i = 0; i < n / 256; i++) {
            long o = offset + (long) i * BYTES;
            float d = f16(src, o);
            for (int ib32 = 0; ib32 < 8; ++ib32) {
                int scale = u8(src, o + SCALES + ib32);
                float db0 = d * (0.5f + (scale & 0xf)) * 0.25f;
                float db1 = d * (0.5f + (scale >> 4)) * 0.25f;
                for (int l = 0; l < 4; ++l) {
                    int qs = u16(src, o + QS + 2 * (4 * ib32 + l));
                    long g = grid[qs & 511];
                    int signs = ksigns[qs >> 9];
                    for (int j = 0; j < 8; ++j) dst[y++] = (l / 2 == 0 ? db0 : db1) * (int) ((g >>> 8 * j) & 0xFF) * ((signs & kmask[j]) != 0 ? -1.f : 1.f);
                }
            }
        }
    }

    @Override
    void unpack(MemorySegment s, long o, byte[] q, int qo, float[] sc, int so) {
        long[] grid = IQGrids.Iq2xsGrid.TABLE;
        float d = f16(s, o);
        for (int ib32 = 0; ib32 < 8; ++ib32) {
            int scale = u8(s, o + SCALES + ib32);
            long qs4 = s.get(U64, o + QS + 8 * ib32); // the four uint16 of these 32 values
            for (int l = 0; l < 4; ++l) {
                int qs = (int) (qs4 >>> 16 * l) & 0xFFFF;
                putLevels(q, qo + 32 * ib32 + 8 * l, signed(grid[qs & 511], KSIGN_MASKS[qs >> 9]));
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
                int scale = u8(s, o + SCALES + ib32);
                long qs4 = s.get(U64, o + QS + 8 * ib32);
                int xc = xo + c + 32 * ib32;
                for (int l = 0; l < 4; l += 2) {
                    float db = d * (0.5f + (l < 2 ? scale & 0xf : scale >> 4)) * 0.25f;
                    int q0 = (int) (qs4 >>> 16 * l) & 0xFFFF, q1 = (int) (qs4 >>> 16 * l + 16) & 0xFFFF;
                    a0 = grid8(GRID, q0 & 511, KSIGN_BITS, 8 * (q0 >> 9)).mul(db).fma(x8(x, xc + 8 * l), a0);
                    a1 = grid8(GRID, q1 & 511, KSIGN_BITS, 8 * (q1 >> 9)).mul(db).fma(x8(x, xc + 8 * l + 8), a1);
                }
            }
        }
        return VectorMath.sum(a0.add(a1));
    }
}
