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
 * Q6_K (ggml block_q6_K, 210 bytes per 256 values): ql[128] low nibbles, qh[64] high 2-bit pairs, int8 scales[16]
 * (one per 16 values), f16 d. In each half {@code n} of 128 values, for {@code l < 32}: ql[64n + l] holds values
 * l (low nibble) and l + 64 (high), ql[64n + 32 + l] values l + 32 and l + 96, qh[32n + l] the top two bits of
 * l, l + 32, l + 64, l + 96 (bits 0-1, 2-3, 4-5, 6-7); value = d * scale * (q - 32).
 */
final class Q6_KFormat implements TensorFormat {
    private static final int BLOCK_BYTES = 210;
    private static final int QH = 128, SC = 192, D = 208;

    private static final VectorSpecies<Float> FS = KQuants.FS;
    private static final VectorSpecies<Integer> IS = KQuants.IS;
    private static final int L = KQuants.LANES, STEP = KQuants.STEP, PARTS = KQuants.PARTS;
    /** One load of quant bytes (null: the vector width is not supported, scalar decoding). */
    private static final VectorSpecies<Byte> BS = KQuants.STEP_BYTES;

    @Override public GgmlType type() { return GgmlType.Q6_K; }

    @Override
    public void dequantize(MemorySegment src, long offset, float[] dst, int dstOff, int n) {
        KQuants.checkRange(GgmlType.Q6_K, n, src.byteSize(), offset, dst.length, dstOff);
        for (int b = 0; b < n / QK_K; b++) {
            long o = offset + (long) BLOCK_BYTES * b;
            float d = KQuants.f16(src, o + D);
            long ql = o, qh = o + QH, sc = o + SC;
            int y = dstOff + QK_K * b;
            for (int half = 0; half < 2; half++) {
                for (int l = 0; l < 32; ++l) {
                    int is = l / 16;
                    int a = KQuants.u8(src, ql + l), c = KQuants.u8(src, ql + l + 32), h = KQuants.u8(src, qh + l);
                    int q1 = ((a & 0xF) | (((h >> 0) & 3) << 4)) - 32;
                    int q2 = ((c & 0xF) | (((h >> 2) & 3) << 4)) - 32;
                    int q3 = ((a >> 4) | (((h >> 4) & 3) << 4)) - 32;
                    int q4 = ((c >> 4) | (((h >> 6) & 3) << 4)) - 32;
                    dst[y + l] = d * scale(src, sc + is) * q1;
                    dst[y + l + 32] = d * scale(src, sc + is + 2) * q2;
                    dst[y + l + 64] = d * scale(src, sc + is + 4) * q3;
                    dst[y + l + 96] = d * scale(src, sc + is + 6) * q4;
                }
                y += 128;
                ql += 64;
                qh += 32;
                sc += 8;
            }
        }
    }

    private static int scale(MemorySegment s, long off) {
        return s.get(ValueLayout.JAVA_BYTE, off);
    }

    /** quantize_row_q6_K_ref. */
    @Override
    public void quantize(float[] src, int srcOff, int n, MemorySegment dst, long offset) {
        KQuants.checkRange(GgmlType.Q6_K, n, dst.byteSize(), offset, src.length, srcOff);
        byte[] L = new byte[QK_K];
        float[] scales = new float[QK_K / 16];
        for (int b = 0; b < n / QK_K; b++) {
            long o = offset + (long) BLOCK_BYTES * b;
            int xo = srcOff + QK_K * b;
            float maxScale = 0, maxAbsScale = 0;
            for (int ib = 0; ib < QK_K / 16; ++ib) {
                float scale = KQuants.makeQxQuants(16, 32, src, xo + 16 * ib, L, 16 * ib, 1);
                scales[ib] = scale;
                float absScale = Math.abs(scale);
                if (absScale > maxAbsScale) {
                    maxAbsScale = absScale;
                    maxScale = scale;
                }
            }
            if (maxAbsScale < KQuants.GROUP_MAX_EPS) {
                dst.asSlice(o, BLOCK_BYTES).fill((byte) 0);
                continue;
            }
            float iscale = -128.f / maxScale;
            KQuants.putF16(dst, o + D, 1 / iscale);
            for (int ib = 0; ib < QK_K / 16; ++ib)
                dst.set(ValueLayout.JAVA_BYTE, o + SC + ib, (byte) Math.min(127, KQuants.nearestInt(iscale * scales[ib])));
            float dBlock = KQuants.f16(dst, o + D);
            for (int j = 0; j < QK_K / 16; ++j) {
                float d = dBlock * scale(dst, o + SC + j);
                if (d == 0) continue;
                for (int ii = 0; ii < 16; ++ii) {
                    int l = KQuants.nearestInt(src[xo + 16 * j + ii] / d);
                    l = Math.max(-32, Math.min(31, l));
                    L[16 * j + ii] = (byte) (l + 32);
                }
            }
            long ql = o, qh = o + QH;
            for (int j = 0; j < QK_K; j += 128) {
                for (int l = 0; l < 32; ++l) {
                    int q1 = L[j + l] & 0xF, q2 = L[j + l + 32] & 0xF, q3 = L[j + l + 64] & 0xF, q4 = L[j + l + 96] & 0xF;
                    dst.set(ValueLayout.JAVA_BYTE, ql + l, (byte) (q1 | (q3 << 4)));
                    dst.set(ValueLayout.JAVA_BYTE, ql + l + 32, (byte) (q2 | (q4 << 4)));
                    dst.set(ValueLayout.JAVA_BYTE, qh + l, (byte) ((L[j + l] >> 4) | ((L[j + l + 32] >> 4) << 2)
                            | ((L[j + l + 64] >> 4) << 4) | ((L[j + l + 96] >> 4) << 6)));
                }
                ql += 64;
                qh += 32;
            }
        }
    }

    @Override
    public void matmulScalar(QMatrix w, int r0, int r1, float[] x, int xStride, int nVec, float[] out, int outStride) {
        KQuants.matmulScalarViaRow(this, w, r0, r1, x, xStride, nVec, out, outStride);
    }

    @Override
    public void matmul(QMatrix w, int r0, int r1, float[] x, int xStride, int nVec, float[] out, int outStride) {
        if (BS == null) {
            KQuants.matmulViaRow(this, w, r0, r1, x, xStride, nVec, out, outStride);
            return;
        }
        MemorySegment s = w.data();
        int n = w.cols(), nb = n / QK_K;
        float[] sd = KQuants.blockScratch();
        if (nVec == 1) {
            // The decode case: dequantize in registers, no round trip through memory; the -32 offset of every
            // quant is applied once per 16 values through the sums of x.
            float[] xs = groupSums(x, n);
            for (int r = r0; r < r1; r++) out[r] = dot1(s, w.rowOffset(r), nb, x, 0, xs, sd);
            return;
        }
        KQuants.matmulDecoded(Q6_KFormat::dequantizeRow, w, r0, r1, x, xStride, nVec, out, outStride);
    }

    private static final ThreadLocal<float[][]> GROUP_SUMS = ThreadLocal.withInitial(() -> new float[][] {new float[0]});

    /** Per-thread sums of {@code x[0 .. n)} over each 16 values, summed in order. */
    private static float[] groupSums(float[] x, int n) {
        float[][] holder = GROUP_SUMS.get();
        if (holder[0].length < n / 16) holder[0] = new float[n / 16];
        float[] s = holder[0];
        for (int j = 0; j < n / 16; j++) {
            float t = 0f;
            for (int i = 16 * j; i < 16 * j + 16; i++) t += x[i];
            s[j] = t;
        }
        return s;
    }

    /**
     * Dot product of one row with x as {@code sum_k d*scale_k * (sum(q x) - 32 sum(x))} over the 16-value groups k:
     * the exact dequantized dot product in another order of summation. Each q-32 term is (d * scale) * q as in ggml,
     * exact in float (11 + 7 + 6 significant bits), so the only difference is where the 32 is subtracted.
     * {@code xs} holds the 16-value sums of x.
     */
    private static float dot1(MemorySegment s, long base, int nb, float[] x, int xo, float[] xs, float[] sd) {
        FloatVector acc0 = FloatVector.zero(FS), acc1 = acc0, acc2 = acc0, acc3 = acc0, accM = acc0;
        for (int b = 0; b < nb; b++) {
            long o = base + (long) BLOCK_BYTES * b;
            blockScales(s, o, sd);
            for (int k = 0; k < 16; k += L)
                accM = FloatVector.fromArray(FS, sd, k).fma(FloatVector.fromArray(FS, xs, 16 * b + k), accM);
            for (int half = 0; half < 2; half++) {
                long ql = o + 64 * half, qh = o + QH + 32 * half;
                int y = xo + QK_K * b + 128 * half;
                for (int h0 = 0; h0 < 32; h0 += STEP) {
                    ByteVector ab = ByteVector.fromMemorySegment(BS, s, ql + h0, ByteOrder.LITTLE_ENDIAN);
                    ByteVector cb = ByteVector.fromMemorySegment(BS, s, ql + 32 + h0, ByteOrder.LITTLE_ENDIAN);
                    ByteVector hbb = ByteVector.fromMemorySegment(BS, s, qh + h0, ByteOrder.LITTLE_ENDIAN);
                    for (int p = 0; p < PARTS; p++) {
                        int h = h0 + p * L, si = 8 * half + h / 16;
                        IntVector a = (IntVector) ab.convertShape(VectorOperators.ZERO_EXTEND_B2I, IS, p);
                        IntVector c = (IntVector) cb.convertShape(VectorOperators.ZERO_EXTEND_B2I, IS, p);
                        IntVector hb = (IntVector) hbb.convertShape(VectorOperators.ZERO_EXTEND_B2I, IS, p);
                        IntVector q1 = a.and(0xF).or(hb.and(3).lanewise(VectorOperators.LSHL, 4));
                        IntVector q2 = c.and(0xF).or(hb.lanewise(VectorOperators.LSHL, 2).and(0x30));
                        IntVector q3 = a.lanewise(VectorOperators.LSHR, 4).or(hb.and(0x30));
                        IntVector q4 = c.lanewise(VectorOperators.LSHR, 4).or(hb.lanewise(VectorOperators.LSHR, 2).and(0x30));
                        acc0 = ((FloatVector) q1.convert(VectorOperators.I2F, 0)).mul(sd[si])
                                .fma(FloatVector.fromArray(FS, x, y + h), acc0);
                        acc1 = ((FloatVector) q2.convert(VectorOperators.I2F, 0)).mul(sd[si + 2])
                                .fma(FloatVector.fromArray(FS, x, y + 32 + h), acc1);
                        acc2 = ((FloatVector) q3.convert(VectorOperators.I2F, 0)).mul(sd[si + 4])
                                .fma(FloatVector.fromArray(FS, x, y + 64 + h), acc2);
                        acc3 = ((FloatVector) q4.convert(VectorOperators.I2F, 0)).mul(sd[si + 6])
                                .fma(FloatVector.fromArray(FS, x, y + 96 + h), acc3);
                    }
                }
            }
        }
        return VectorMath.sum(acc0.add(acc1).add(acc2.add(acc3)).sub(accM.mul(32f)));
    }

    /** {@code sd[k] = d * scale_k} for the block at {@code o} (exact: 11 x 8 significant bits). */
    private static void blockScales(MemorySegment s, long o, float[] sd) {
        float d = KQuants.f16(s, o + D);
        for (int k = 0; k < 16; k += STEP) {
            ByteVector sc = ByteVector.fromMemorySegment(BS, s, o + SC + k, ByteOrder.LITTLE_ENDIAN);
            for (int p = 0; p < PARTS; p++)
                ((FloatVector) sc.convertShape(VectorOperators.B2F, FS, p)).mul(d).intoArray(sd, k + p * L);
        }
    }

    /** Vectorized exact dequantization of a row of {@code nb} blocks into {@code dst[0 ..]}. */
    static void dequantizeRow(MemorySegment s, long base, int nb, float[] dst, float[] sd) {
        for (int b = 0; b < nb; b++) {
            long o = base + (long) BLOCK_BYTES * b;
            blockScales(s, o, sd);
            for (int half = 0; half < 2; half++) {
                long ql = o + 64 * half, qh = o + QH + 32 * half;
                int y = QK_K * b + 128 * half;
                for (int h0 = 0; h0 < 32; h0 += STEP) {
                    ByteVector ab = ByteVector.fromMemorySegment(BS, s, ql + h0, ByteOrder.LITTLE_ENDIAN);
                    ByteVector cb = ByteVector.fromMemorySegment(BS, s, ql + 32 + h0, ByteOrder.LITTLE_ENDIAN);
                    ByteVector hbb = ByteVector.fromMemorySegment(BS, s, qh + h0, ByteOrder.LITTLE_ENDIAN);
                    for (int p = 0; p < PARTS; p++) {
                        int h = h0 + p * L, si = 8 * half + h / 16;
                        IntVector a = (IntVector) ab.convertShape(VectorOperators.ZERO_EXTEND_B2I, IS, p);
                        IntVector c = (IntVector) cb.convertShape(VectorOperators.ZERO_EXTEND_B2I, IS, p);
                        IntVector hb = (IntVector) hbb.convertShape(VectorOperators.ZERO_EXTEND_B2I, IS, p);
                        IntVector q1 = a.and(0xF).or(hb.and(3).lanewise(VectorOperators.LSHL, 4)).sub(32);
                        IntVector q2 = c.and(0xF).or(hb.lanewise(VectorOperators.LSHL, 2).and(0x30)).sub(32);
                        IntVector q3 = a.lanewise(VectorOperators.LSHR, 4).or(hb.and(0x30)).sub(32);
                        IntVector q4 = c.lanewise(VectorOperators.LSHR, 4).or(hb.lanewise(VectorOperators.LSHR, 2).and(0x30)).sub(32);
                        ((FloatVector) q1.convert(VectorOperators.I2F, 0)).mul(sd[si]).intoArray(dst, y + h);
                        ((FloatVector) q2.convert(VectorOperators.I2F, 0)).mul(sd[si + 2]).intoArray(dst, y + 32 + h);
                        ((FloatVector) q3.convert(VectorOperators.I2F, 0)).mul(sd[si + 4]).intoArray(dst, y + 64 + h);
                        ((FloatVector) q4.convert(VectorOperators.I2F, 0)).mul(sd[si + 6]).intoArray(dst, y + 96 + h);
                    }
                }
            }
        }
    }
}
