package io.moeflow.kernels;

import static io.moeflow.kernels.KQuants.QK_K;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import jdk.incubator.vector.ByteVector;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorSpecies;

/**
 * Q3_K (ggml block_q3_K, 110 bytes per 256 values): hmask[32] high bits, qs[64] low 2-bit pairs, 12 bytes of sixteen
 * 6-bit scales, f16 d. Scale j (one per 16 values) has its low 4 bits in byte j (j < 8, low nibble) or j - 8 (high
 * nibble) and its top 2 bits at bits 2*(j/4) of byte 8 + j%4; it is stored biased by 32. In half {@code n} of
 * 128 values, bits 2s of qs[32n + l] hold value 128n + 32s + l; its high bit is bit 4n + s of hmask[l];
 * value = d * (scale - 32) * (q - (high bit set ? 0 : 4)).
 */
final class Q3_KFormat implements TensorFormat {
    private static final int BLOCK_BYTES = 110;
    private static final int QS = 32, SCALES = 96, D = 108;
    private static final VectorSpecies<Float> FS = KQuants.FS;
    private static final VectorSpecies<Integer> IS = IntVector.SPECIES_PREFERRED;
    /** Bytes loaded per step: one per float lane (null: scalar fallback). */
    private static final VectorSpecies<Byte> BS = KQuants.byteSpeciesPerFloatLane();

    @Override public GgmlType type() { return GgmlType.Q3_K; }

    /** The unbiased-by-nothing 6-bit code of scale j (0..63), as the kmask1/kmask2 unpacking of dequantize_row_q3_K. */
    private static int scaleCode(MemorySegment s, long so, int j) {
        int low = j < 8 ? KQuants.u8(s, so + j) & 0xF : KQuants.u8(s, so + j - 8) >> 4;
        return low | (((KQuants.u8(s, so + 8 + j % 4) >> (2 * (j / 4))) & 3) << 4);
    }

    @Override
    public void dequantize(MemorySegment src, long offset, float[] dst, int dstOff, int n) {
        KQuants.checkRange(GgmlType.Q3_K, n, src.byteSize(), offset, dst.length, dstOff);
        int y = dstOff;
        for (int b = 0; b < n / QK_K; b++) {
            long o = offset + (long) BLOCK_BYTES * b;
            float dAll = KQuants.f16(src, o + D);
            long q = o + QS, hm = o;
            int m = 1, is = 0;
            for (int n0 = 0; n0 < QK_K; n0 += 128) {
                int shift = 0;
                for (int j = 0; j < 4; ++j) {
                    float dl = dAll * (scaleCode(src, o + SCALES, is++) - 32);
                    for (int l = 0; l < 16; ++l)
                        dst[y++] = dl * (((KQuants.u8(src, q + l) >> shift) & 3) - ((KQuants.u8(src, hm + l) & m) != 0 ? 0 : 4));
                    dl = dAll * (scaleCode(src, o + SCALES, is++) - 32);
                    for (int l = 0; l < 16; ++l)
                        dst[y++] = dl * (((KQuants.u8(src, q + l + 16) >> shift) & 3) - ((KQuants.u8(src, hm + l + 16) & m) != 0 ? 0 : 4));
                    shift += 2;
                    m <<= 1;
                }
                q += 32;
            }
        }
    }

    /** quantize_row_q3_K_ref. */
    @Override
    public void quantize(float[] src, int srcOff, int n, MemorySegment dst, long offset) {
        KQuants.checkRange(GgmlType.Q3_K, n, dst.byteSize(), offset, src.length, srcOff);
        byte[] L = new byte[QK_K];
        float[] scales = new float[QK_K / 16];
        for (int b = 0; b < n / QK_K; b++) {
            long o = offset + (long) BLOCK_BYTES * b;
            int xo = srcOff + QK_K * b;
            float maxScale = 0, amax = 0;
            for (int j = 0; j < QK_K / 16; ++j) {
                scales[j] = KQuants.makeQ3Quants(16, 4, src, xo + 16 * j, L, 16 * j, true);
                float scale = Math.abs(scales[j]);
                if (scale > amax) {
                    amax = scale;
                    maxScale = scales[j];
                }
            }
            long so = o + SCALES;
            dst.asSlice(so, 12).fill((byte) 0);
            if (maxScale != 0) {
                float iscale = -32.f / maxScale;
                for (int j = 0; j < QK_K / 16; ++j) {
                    int l = (byte) KQuants.nearestInt(iscale * scales[j]); // int8_t l = nearest_int(...)
                    l = Math.max(-32, Math.min(31, l)) + 32;
                    if (j < 8) dst.set(ValueLayout.JAVA_BYTE, so + j, (byte) (l & 0xF));
                    else KQuants.orByte(dst, so + j - 8, (l & 0xF) << 4);
                    l >>= 4;
                    KQuants.orByte(dst, so + j % 4 + 8, l << (2 * (j / 4)));
                }
                KQuants.putF16(dst, o + D, 1 / iscale);
            } else {
                KQuants.putF16(dst, o + D, 0.f);
            }
            float dAll = KQuants.f16(dst, o + D);
            for (int j = 0; j < QK_K / 16; ++j) {
                int sc = (byte) (scaleCode(dst, so, j) - 32);
                float d = dAll * sc;
                if (d == 0) continue;
                for (int ii = 0; ii < 16; ++ii) {
                    int l = KQuants.nearestInt(src[xo + 16 * j + ii] / d);
                    l = Math.max(-4, Math.min(3, l));
                    L[16 * j + ii] = (byte) (l + 4);
                }
            }
            // High bit of the first 32 values into bit 0 of hmask[0..31], the next 32 into bit 1, etc.
            dst.asSlice(o, QK_K / 8).fill((byte) 0);
            int m = 0, hm = 1;
            for (int j = 0; j < QK_K; ++j) {
                if (L[j] > 3) {
                    KQuants.orByte(dst, o + m, hm);
                    L[j] -= 4;
                }
                if (++m == QK_K / 8) {
                    m = 0;
                    hm <<= 1;
                }
            }
            for (int j = 0; j < QK_K; j += 128)
                for (int l = 0; l < 32; ++l)
                    dst.set(ValueLayout.JAVA_BYTE, o + QS + j / 4 + l,
                            (byte) (L[j + l] | (L[j + l + 32] << 2) | (L[j + l + 64] << 4) | (L[j + l + 96] << 6)));
        }
    }

    @Override
    public void matmulScalar(QMatrix w, int r0, int r1, float[] x, int xStride, int nVec, float[] out, int outStride) {
        KQuants.matmulScalarViaRow(this, w, r0, r1, x, xStride, nVec, out, outStride);
    }

    @Override
    public void matmul(QMatrix w, int r0, int r1, float[] x, int xStride, int nVec, float[] out, int outStride) {
        if (BS == null) KQuants.matmulViaRow(this, w, r0, r1, x, xStride, nVec, out, outStride);
        else KQuants.matmulDecoded(Q3_KFormat::dequantizeRow, w, r0, r1, x, xStride, nVec, out, outStride);
    }

    /** Vectorized exact dequantization of a row; {@code sd[j]} holds d * (scale_j - 32) of the current block. */
    static void dequantizeRow(MemorySegment s, long base, int nb, float[] dst, float[] sd) {
        int len = FS.length();
        for (int b = 0; b < nb; b++) {
            long o = base + (long) BLOCK_BYTES * b;
            float dAll = KQuants.f16(s, o + D);
            // the 12 scale bytes as a long and an int: per-byte segment reads in this loop made C2 deoptimize repeatedly
            long lo = s.get(KQuants.LONG_LE, o + SCALES);
            int hi = s.get(KQuants.INT_LE, o + SCALES + 8);
            for (int j = 0; j < 16; j++) {
                int low4 = (int) (lo >>> (8 * (j & 7) + 4 * (j >> 3))) & 0xF;
                int high2 = (hi >>> (8 * (j & 3) + 2 * (j >> 2))) & 3;
                sd[j] = dAll * ((low4 | (high2 << 4)) - 32);
            }
            for (int half = 0; half < 2; half++) {
                for (int sh = 0; sh < 4; sh++) {
                    int y = QK_K * b + 128 * half + 32 * sh;
                    for (int h = 0; h < 32; h += len) {
                        IntVector q = (IntVector) ByteVector.fromMemorySegment(BS, s, o + QS + 32 * half + h, ByteOrder.LITTLE_ENDIAN)
                                .convertShape(VectorOperators.B2I, IS, 0);
                        IntVector hm = (IntVector) ByteVector.fromMemorySegment(BS, s, o + h, ByteOrder.LITTLE_ENDIAN)
                                .convertShape(VectorOperators.B2I, IS, 0);
                        // level - 4, plus 4 where the high bit is set
                        IntVector v = q.lanewise(VectorOperators.LSHR, 2 * sh).and(3).sub(4)
                                .add(hm.lanewise(VectorOperators.LSHR, 4 * half + sh).and(1).lanewise(VectorOperators.LSHL, 2));
                        ((FloatVector) v.convert(VectorOperators.I2F, 0)).mul(sd[8 * half + 2 * sh + h / 16]).intoArray(dst, y + h);
                    }
                }
            }
        }
    }
}
