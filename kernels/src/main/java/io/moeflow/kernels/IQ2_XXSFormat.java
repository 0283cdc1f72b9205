package io.moeflow.kernels;

import java.lang.foreign.MemorySegment;
import jdk.incubator.vector.FloatVector;

/**
 * IQ2_XXS (ggml block_iq2_xxs, 2.06 bits per weight): per 256 values an f16 d and 32 uint16. Each 32 values take
 * two uint32: the first holds four 8-bit indices into iq2xxs_grid (eight magnitudes 8, 25 or 43 each), the second
 * four 7-bit sign codes (ksigns_iq2xs makes them 8 sign bits of even parity) and a 4-bit scale s in its top bits;
 * value = d * (0.5 + s) * 0.25 * grid * sign. 66 bytes. The product has at most 11 + 5 + 6 significant bits, so it
 * is exact in float whatever the order of the multiplications.
 */
final class IQ2_XXSFormat extends Int8LevelFormat {
    private static final int BYTES = 66;
    /** ggml's grid as bytes, for the one-vector kernel. */
    private static final byte[] GRID = entryBytes(IQGrids.Iq2xxsGrid.TABLE);

    IQ2_XXSFormat() { super(GgmlType.IQ2_XXS); }

    @Override
    public void dequantize(MemorySegment src, long offset, float[] dst, int dstOff, int n) {
        checkRange(src, offset, dst, dstOff, n);
        long[] grid = IQGrids.Iq2xxsGrid.TABLE;
        int[] ksigns = IQGrids.KsignsIq2xs.TABLE, kmask = IQGrids.KmaskIq2xs.TABLE;
        int y = dstOff;
        for (int i = 0; i < n / 256; i++) {
            long o = offset + (long) i * BYTES;
            float d = f16(src, o);
            for (int ib32 = 0; ib32 < 8; ++ib32) {
                int aux0 = src.get(U32, o + 2 + 8 * ib32), aux1 = src.get(U32, o + 2 + 8 * ib32 + 4);
                float db = d * (0.5f + (aux1 >>> 28)) * 0.25f;
                for (int l = 0; l < 4; ++l) {
                    long g = grid[(aux0 >>> 8 * l) & 0xFF];
                    int signs = ksigns[(aux1 >>> 7 * l) & 127];
                    for (int j = 0; j < 8; ++j) dst[y++] = db * (int) ((g >>> 8 * j) & 0xFF) * ((signs & kmask[j]) != 0 ? -1.f : 1.f);
                }
            }
        }
    }

    @Override
    void unpack(MemorySegment s, long o, byte[] q, int qo, float[] sc, int so) {
        long[] grid = IQGrids.Iq2xxsGrid.TABLE;
        float d = f16(s, o);
        for (int ib32 = 0; ib32 < 8; ++ib32) {
            int aux0 = s.get(U32, o + 2 + 8 * ib32), aux1 = s.get(U32, o + 2 + 8 * ib32 + 4);
            float db = d * (0.5f + (aux1 >>> 28)) * 0.25f;
            for (int l = 0; l < 4; ++l)
                putLevels(q, qo + 32 * ib32 + 8 * l, signed(grid[(aux0 >>> 8 * l) & 0xFF], KSIGN_MASKS[(aux1 >>> 7 * l) & 127]));
            sc[so + 2 * ib32] = sc[so + 2 * ib32 + 1] = db;
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
                int aux0 = s.get(U32, o + 2 + 8 * ib32), aux1 = s.get(U32, o + 2 + 8 * ib32 + 4);
                float db = d * (0.5f + (aux1 >>> 28)) * 0.25f;
                int xc = xo + c + 32 * ib32;
                for (int l = 0; l < 4; l += 2) {
                    a0 = grid8(GRID, (aux0 >>> 8 * l) & 0xFF, KSIGN_BITS, 8 * ((aux1 >>> 7 * l) & 127)).mul(db).fma(x8(x, xc + 8 * l), a0);
                    a1 = grid8(GRID, (aux0 >>> 8 * l + 8) & 0xFF, KSIGN_BITS, 8 * ((aux1 >>> 7 * l + 7) & 127)).mul(db)
                            .fma(x8(x, xc + 8 * l + 8), a1);
                }
            }
        }
        return VectorMath.sum(a0.add(a1));
    }
}
