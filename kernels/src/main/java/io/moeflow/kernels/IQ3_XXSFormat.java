package io.moeflow.kernels;

import java.lang.foreign.MemorySegment;
import jdk.incubator.vector.FloatVector;

/**
 * IQ3_XXS (ggml block_iq3_xxs, 3.06 bits per weight): per 256 values an f16 d, 64 bytes of indices into iq3xxs_grid
 * (four magnitudes 4..62 per entry, two entries per 8 values) and 8 uint32, each four 7-bit sign codes
 * (ksigns_iq2xs) and a 4-bit scale s for 32 values; value = d * (0.5 + s) * 0.5 * grid * sign. 98 bytes. At most
 * 11 + 5 + 6 significant bits: exact in float.
 */
final class IQ3_XXSFormat extends Int8LevelFormat {
    private static final int BYTES = 98, QS = 2, SCALES_AND_SIGNS = 66;
    /** ggml's grid as bytes, for the one-vector kernel. */
    private static final byte[] GRID = entryBytes(IQGrids.Iq3xxsGrid.TABLE);

    IQ3_XXSFormat() { super(GgmlType.IQ3_XXS); }

    @Override
    public void dequantize(MemorySegment src, long offset, float[] dst, int dstOff, int n) {
        checkRange(src, offset, dst, dstOff, n);
        int[] grid = IQGrids.Iq3xxsGrid.TABLE, ksigns = IQGrids.KsignsIq2xs.TABLE, kmask = IQGrids.KmaskIq2xs.TABLE;
        int y = dstOff;
        for (int i = 0; i < n / 256; i++) {
            long o = offset + (long) i * BYTES;
            float d = f16(src, o);
            for (int ib32 = 0; ib32 < 8; ++ib32) {
                int aux32 = src.get(U32, o + SCALES_AND_SIGNS + 4 * ib32);
                float db = d * (0.5f + (aux32 >>> 28)) * 0.5f;
                long qs = o + QS + 8 * ib32;
                for (int l = 0; l < 4; ++l) {
                    int signs = ksigns[(aux32 >>> 7 * l) & 127];
                    int grid1 = grid[u8(src, qs + 2 * l)], grid2 = grid[u8(src, qs + 2 * l + 1)];
                    for (int j = 0; j < 4; ++j) {
                        dst[y + j] = db * ((grid1 >>> 8 * j) & 0xFF) * ((signs & kmask[j]) != 0 ? -1.f : 1.f);
                        dst[y + j + 4] = db * ((grid2 >>> 8 * j) & 0xFF) * ((signs & kmask[j + 4]) != 0 ? -1.f : 1.f);
                    }
                    y += 8;
                }
            }
        }
    }

    @Override
    void unpack(MemorySegment s, long o, byte[] q, int qo, float[] sc, int so) {
        int[] grid = IQGrids.Iq3xxsGrid.TABLE;
        float d = f16(s, o);
        for (int ib32 = 0; ib32 < 8; ++ib32) {
            int aux32 = s.get(U32, o + SCALES_AND_SIGNS + 4 * ib32);
            long qs8 = s.get(U64, o + QS + 8 * ib32); // two grid indices per 8 values
            for (int l = 0; l < 4; ++l) {
                long g = (grid[(int) (qs8 >>> 16 * l) & 0xFF] & 0xFFFFFFFFL) | (long) grid[(int) (qs8 >>> 16 * l + 8) & 0xFF] << 32;
                putLevels(q, qo + 32 * ib32 + 8 * l, signed(g, KSIGN_MASKS[(aux32 >>> 7 * l) & 127]));
            }
            sc[so + 2 * ib32] = sc[so + 2 * ib32 + 1] = d * (0.5f + (aux32 >>> 28)) * 0.5f;
        }
    }

    /** One vector: each group of 8 is its two grid entries with their sign bits flipped, times the scale, in registers. */
    @Override
    float dotRow(MemorySegment s, long base, int cols, float[] x, int xo, Scratch sc) {
        FloatVector a0 = zero(), a1 = a0;
        for (int c = 0; c < cols; c += 256) {
            long o = base + (long) (c / 256) * BYTES;
            float d = f16(s, o);
            for (int ib32 = 0; ib32 < 8; ++ib32) {
                int aux32 = s.get(U32, o + SCALES_AND_SIGNS + 4 * ib32);
                long qs8 = s.get(U64, o + QS + 8 * ib32);
                float db = d * (0.5f + (aux32 >>> 28)) * 0.5f;
                int xc = xo + c + 32 * ib32;
                for (int l = 0; l < 4; l += 2) {
                    int lo = (int) (qs8 >>> 16 * l), hi = (int) (qs8 >>> 16 * l + 16);
                    a0 = grid4x2(GRID, lo & 0xFF, (lo >>> 8) & 0xFF, KSIGN_BITS, 8 * ((aux32 >>> 7 * l) & 127)).mul(db)
                            .fma(x8(x, xc + 8 * l), a0);
                    a1 = grid4x2(GRID, hi & 0xFF, (hi >>> 8) & 0xFF, KSIGN_BITS, 8 * ((aux32 >>> 7 * l + 7) & 127)).mul(db)
                            .fma(x8(x, xc + 8 * l + 8), a1);
                }
            }
        }
        return VectorMath.sum(a0.add(a1));
    }
}
