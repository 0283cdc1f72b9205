package io.moeflow.kernels;

import java.lang.foreign.MemorySegment;
import jdk.incubator.vector.FloatVector;

/**
 * IQ3_S (ggml block_iq3_s, 3.44 bits per weight): per 256 values an f16 d, 64 low index bytes and 8 bytes of high
 * bits (9-bit indices into iq3s_grid, four magnitudes 1..15 per entry), 32 sign bytes (8 explicit sign bits each)
 * and 4 scale bytes (a 4-bit s per 32 values); value = d * (1 + 2s) * grid * sign. 110 bytes. Exact in float.
 */
final class IQ3_SFormat extends Int8LevelFormat {
    private static final int BYTES = 110, QS = 2, QH = 66, SIGNS = 74, SCALES = 106;
    /** ggml's grid as bytes, for the one-vector kernel. */
    private static final byte[] GRID = entryBytes(IQGrids.Iq3sGrid.TABLE);

    IQ3_SFormat() { super(GgmlType.IQ3_S); }

    @Override
    public void dequantize(MemorySegment src, long offset, float[] dst, int dstOff, int n) {
        checkRange(src, offset, dst, dstOff, n);
        int[] grid = IQGrids.Iq3sGrid.TABLE, kmask = IQGrids.KmaskIq2xs.TABLE;
        int y = dstOff;
        for (int i = 0; i < n / 256; i++) {
            long o = offset + (long) i * BYTES;
            float d = f16(src, o);
            long qs = o + QS, qh = o + QH, signs = o + SIGNS;
            for (int ib32 = 0; ib32 < 8; ib32 += 2) {
                int scale = u8(src, o + SCALES + ib32 / 2);
                float db1 = d * (1 + 2 * (scale & 0xf));
                float db2 = d * (1 + 2 * (scale >> 4));
                for (int half = 0; half < 2; half++) {
                    float db = half == 0 ? db1 : db2;
                    int h = u8(src, qh + half);
                    for (int l = 0; l < 4; ++l) {
                        int grid1 = grid[u8(src, qs + 2 * l) | ((h << (8 - 2 * l)) & 256)];
                        int grid2 = grid[u8(src, qs + 2 * l + 1) | ((h << (7 - 2 * l)) & 256)];
                        int sg = u8(src, signs + l);
                        for (int j = 0; j < 4; ++j) {
                            dst[y + j] = db * ((grid1 >>> 8 * j) & 0xFF) * ((sg & kmask[j]) != 0 ? -1.f : 1.f);
                            dst[y + j + 4] = db * ((grid2 >>> 8 * j) & 0xFF) * ((sg & kmask[j + 4]) != 0 ? -1.f : 1.f);
                        }
                        y += 8;
                    }
                    qs += 8;
                    signs += 4;
                }
                qh += 2;
            }
        }
    }

    @Override
    void unpack(MemorySegment s, long o, byte[] q, int qo, float[] sc, int so) {
        int[] grid = IQGrids.Iq3sGrid.TABLE;
        float d = f16(s, o);
        for (int ib32 = 0; ib32 < 8; ++ib32) {
            int h = u8(s, o + QH + ib32), signs4 = s.get(U32, o + SIGNS + 4 * ib32);
            long qs8 = s.get(U64, o + QS + 8 * ib32);
            for (int l = 0; l < 4; ++l) {
                int i1 = (int) (qs8 >>> 16 * l) & 0xFF | ((h << (8 - 2 * l)) & 256);
                int i2 = (int) (qs8 >>> 16 * l + 8) & 0xFF | ((h << (7 - 2 * l)) & 256);
                long g = (grid[i1] & 0xFFFFFFFFL) | (long) grid[i2] << 32;
                putLevels(q, qo + 32 * ib32 + 8 * l, signed(g, SIGN_MASKS[(signs4 >>> 8 * l) & 0xFF]));
            }
            sc[so + 2 * ib32] = sc[so + 2 * ib32 + 1] = d * (1 + 2 * ((u8(s, o + SCALES + ib32 / 2) >> 4 * (ib32 % 2)) & 0xf));
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
                int h = u8(s, o + QH + ib32), signs4 = s.get(U32, o + SIGNS + 4 * ib32);
                long qs8 = s.get(U64, o + QS + 8 * ib32);
                float db = d * (1 + 2 * ((u8(s, o + SCALES + ib32 / 2) >> 4 * (ib32 % 2)) & 0xf));
                int xc = xo + c + 32 * ib32;
                for (int l = 0; l < 4; l += 2) {
                    int lo = (int) (qs8 >>> 16 * l), hi = (int) (qs8 >>> 16 * l + 16);
                    FloatVector w0 = grid4x2(GRID, lo & 0xFF | ((h << (8 - 2 * l)) & 256), (lo >>> 8) & 0xFF | ((h << (7 - 2 * l)) & 256),
                            SIGN_BITS, 8 * ((signs4 >>> 8 * l) & 0xFF));
                    FloatVector w1 = grid4x2(GRID, hi & 0xFF | ((h << (6 - 2 * l)) & 256), (hi >>> 8) & 0xFF | ((h << (5 - 2 * l)) & 256),
                            SIGN_BITS, 8 * ((signs4 >>> 8 * l + 8) & 0xFF));
                    a0 = w0.mul(db).fma(x8(x, xc + 8 * l), a0);
                    a1 = w1.mul(db).fma(x8(x, xc + 8 * l + 8), a1);
                }
            }
        }
        return VectorMath.sum(a0.add(a1));
    }
}
