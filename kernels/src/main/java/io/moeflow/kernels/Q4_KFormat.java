package io.moeflow.kernels;

import static io.moeflow.kernels.KQuants.QK_K;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import jdk.incubator.vector.ByteVector;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorMask;
import jdk.incubator.vector.LongVector;
import jdk.incubator.vector.VectorSpecies;

/**
 * Q4_K (ggml block_q4_K, 144 bytes per 256 values): f16 d, f16 dmin, 12 bytes of eight 6-bit scales and eight
 * 6-bit mins (get_scale_min_k4 packing), then 128 bytes of nibbles. Byte {@code 32g + l} of the nibbles holds value
 * {@code 64g + l} (low nibble, sub-block 2g) and {@code 64g + 32 + l} (high nibble, sub-block 2g + 1);
 * value = d * sc_j * q - dmin * m_j.
 */
final class Q4_KFormat implements TensorFormat {
    private static final int BLOCK_BYTES = 144;
    private static final int QS = 16;

    private static final VectorSpecies<Float> FS = KQuants.FS;
    private static final VectorSpecies<Integer> IS = KQuants.IS;
    private static final int L = KQuants.LANES, STEP = KQuants.STEP, PARTS = KQuants.PARTS;
    /** One load of nibble bytes (null: the vector width is not supported, scalar decoding). */
    private static final VectorSpecies<Byte> BS = KQuants.STEP_BYTES;
    private static final ValueLayout.OfInt I32 = KQuants.INT_LE;
    /** Lanes 0-7 of a 16-lane vector: the scale half of {@code [d * sc_j, dmin * m_j]}. */
    private static final VectorMask<Float> SCALE_LANES = L >= 16 ? VectorMask.fromLong(FS, 0xFF) : null;

    @Override public GgmlType type() { return GgmlType.Q4_K; }

    @Override
    public void dequantize(MemorySegment src, long offset, float[] dst, int dstOff, int n) {
        KQuants.checkRange(GgmlType.Q4_K, n, src.byteSize(), offset, dst.length, dstOff);
        int y = dstOff;
        for (int b = 0; b < n / QK_K; b++) {
            long o = offset + (long) BLOCK_BYTES * b;
            float d = KQuants.f16(src, o), min = KQuants.f16(src, o + 2);
            long q = o + QS;
            for (int is = 0; is < 8; is += 2) {
                float d1 = d * KQuants.scaleMinK4(src, o + 4, is, 0), m1 = min * KQuants.scaleMinK4(src, o + 4, is, 1);
                float d2 = d * KQuants.scaleMinK4(src, o + 4, is + 1, 0), m2 = min * KQuants.scaleMinK4(src, o + 4, is + 1, 1);
                for (int l = 0; l < 32; ++l) dst[y++] = d1 * (KQuants.u8(src, q + l) & 0xF) - m1;
                for (int l = 0; l < 32; ++l) dst[y++] = d2 * (KQuants.u8(src, q + l) >> 4) - m2;
                q += 32;
            }
        }
    }

    @Override
    public void quantize(float[] src, int srcOff, int n, MemorySegment dst, long offset) {
        KQuants.checkRange(GgmlType.Q4_K, n, dst.byteSize(), offset, src.length, srcOff);
        byte[] L = new byte[QK_K];
        for (int b = 0; b < n / QK_K; b++) {
            long o = offset + (long) BLOCK_BYTES * b;
            int xo = srcOff + QK_K * b;
            KQuants.quantizeScalesK4(src, xo, 15, -1.f, 0.1f, 20, L, dst, o);
            long q = o + QS;
            for (int j = 0; j < QK_K; j += 64) {
                for (int l = 0; l < 32; ++l) dst.set(ValueLayout.JAVA_BYTE, q + l, (byte) (L[j + l] | (L[j + l + 32] << 4)));
                q += 32;
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
        float[] sm = KQuants.blockScratch();
        if (nVec == 1) {
            // The decode case: in registers, the scales applied once per sub-block, the mins through the x sums.
            float[] xs = KQuants.subBlockSums(x, 0, n);
            for (int r = r0; r < r1; r++) out[r] = dot1(s, w.rowOffset(r), nb, x, 0, xs, sm);
            return;
        }
        KQuants.matmulDecoded(Q4_KFormat::dequantizeRow, w, r0, r1, x, xStride, nVec, out, outStride);
    }

    /**
     * Dot product of one row with x as {@code sum_j d*sc_j * sum(q x) - sum_j dmin*m_j * sum(x)} over the sub-blocks j:
     * the exact dequantized dot product in another order of summation (as ggml's own Q4_K dot product groups it).
     * {@code xs} holds the sub-block sums of x ({@link KQuants#subBlockSums}).
     */
    static float dot1(MemorySegment s, long base, int nb, float[] x, int xo, float[] xs, float[] sm) {
        FloatVector acc0 = FloatVector.zero(FS), acc1 = acc0, accM = acc0;
        for (int b = 0; b < nb; b++) {
            long o = base + (long) BLOCK_BYTES * b;
            scalesMins(s, o, sm);
            for (int k = L >= 16 ? 0 : 8; k < 16; k += L)
                accM = FloatVector.fromArray(FS, sm, k).fma(FloatVector.fromArray(FS, xs, 16 * b + k), accM);
            int xb = xo + QK_K * b;
            for (int g = 0; g < 4; g++) {
                FloatVector sA = FloatVector.zero(FS), sB = sA;
                for (int h = 0; h < 32; h += STEP) {
                    ByteVector bytes = ByteVector.fromMemorySegment(BS, s, o + QS + 32 * g + h, ByteOrder.LITTLE_ENDIAN);
                    for (int p = 0; p < PARTS; p++) {
                        IntVector q = (IntVector) bytes.convertShape(VectorOperators.ZERO_EXTEND_B2I, IS, p);
                        int xi = xb + 64 * g + h + p * L;
                        sA = ((FloatVector) q.and(0xF).convert(VectorOperators.I2F, 0)).fma(FloatVector.fromArray(FS, x, xi), sA);
                        sB = ((FloatVector) q.lanewise(VectorOperators.LSHR, 4).convert(VectorOperators.I2F, 0))
                                .fma(FloatVector.fromArray(FS, x, xi + 32), sB);
                    }
                }
                acc0 = sA.fma(FloatVector.broadcast(FS, sm[2 * g]), acc0);
                acc1 = sB.fma(FloatVector.broadcast(FS, sm[2 * g + 1]), acc1);
            }
        }
        return VectorMath.sum(acc0.add(acc1).sub(accM));
    }

    /**
     * {@code sm[j] = d * sc_j}, {@code sm[8 + j] = dmin * m_j} for the block at {@code o}, at every vector width: the
     * 6-bit fields are gathered into 16 bytes with integer arithmetic on the three little-endian words of the scale
     * bytes (get_scale_min_k4 for four sub-blocks at once), then widened and scaled with vectors.
     */
    static void scalesMins(MemorySegment s, long o, float[] sm) {
        int lo = s.get(I32, o + 4), mid = s.get(I32, o + 8), hi = s.get(I32, o + 12);
        int sc03 = lo & 0x3F3F3F3F, sc47 = (hi & 0x0F0F0F0F) | ((lo >>> 2) & 0x30303030);
        int m03 = mid & 0x3F3F3F3F, m47 = ((hi >>> 4) & 0x0F0F0F0F) | ((mid >>> 2) & 0x30303030);
        ByteVector b = LongVector.zero(LongVector.SPECIES_128)
                .withLane(0, (sc03 & 0xFFFFFFFFL) | ((long) sc47 << 32))
                .withLane(1, (m03 & 0xFFFFFFFFL) | ((long) m47 << 32)).reinterpretAsBytes();
        float d = KQuants.f16(s, o), dmin = KQuants.f16(s, o + 2);
        if (L >= 16) {
            ((FloatVector) b.convertShape(VectorOperators.B2F, FS, 0)).mul(FloatVector.broadcast(FS, dmin).blend(d, SCALE_LANES)).intoArray(sm, 0);
        } else {
            for (int p = 0; p < 16 / L; p++)
                ((FloatVector) b.convertShape(VectorOperators.B2F, FS, p)).mul(p * L < 8 ? d : dmin).intoArray(sm, p * L);
        }
    }

    /** Vectorized exact dequantization of a row of {@code nb} blocks into {@code dst[0 ..]}. */
    static void dequantizeRow(MemorySegment s, long base, int nb, float[] dst, float[] sm) {
        for (int b = 0; b < nb; b++) {
            long o = base + (long) BLOCK_BYTES * b;
            scalesMins(s, o, sm);
            int y = QK_K * b;
            for (int g = 0; g < 4; g++) {
                FloatVector dA = FloatVector.broadcast(FS, sm[2 * g]), mA = FloatVector.broadcast(FS, -sm[8 + 2 * g]);
                FloatVector dB = FloatVector.broadcast(FS, sm[2 * g + 1]), mB = FloatVector.broadcast(FS, -sm[9 + 2 * g]);
                for (int h = 0; h < 32; h += STEP) {
                    ByteVector bytes = ByteVector.fromMemorySegment(BS, s, o + QS + 32 * g + h, ByteOrder.LITTLE_ENDIAN);
                    for (int p = 0; p < PARTS; p++) {
                        IntVector q = (IntVector) bytes.convertShape(VectorOperators.ZERO_EXTEND_B2I, IS, p);
                        int yi = y + 64 * g + h + p * L;
                        ((FloatVector) q.and(0xF).convert(VectorOperators.I2F, 0)).fma(dA, mA).intoArray(dst, yi);
                        ((FloatVector) q.lanewise(VectorOperators.LSHR, 4).convert(VectorOperators.I2F, 0)).fma(dB, mB).intoArray(dst, yi + 32);
                    }
                }
            }
        }
    }
}
