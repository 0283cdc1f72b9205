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
 * Q5_K (ggml block_q5_K, 176 bytes per 256 values): f16 d, f16 dmin, 12 bytes of 6-bit scales/mins (as Q4_K),
 * qh[32] fifth bits, qs[128] nibbles. In 64-value group g, byte qs[32g + l] holds values 64g + l (low nibble) and
 * 64g + 32 + l (high); their fifth bits are bits 2g and 2g + 1 of qh[l]. value = d * sc_j * q - dmin * m_j.
 */
final class Q5_KFormat implements TensorFormat {
    private static final int BLOCK_BYTES = 176;
    private static final int QH = 16, QS = 48;
    private static final VectorSpecies<Float> FS = KQuants.FS;
    private static final VectorSpecies<Integer> IS = KQuants.IS;
    private static final int L = KQuants.LANES, STEP = KQuants.STEP, PARTS = KQuants.PARTS;
    /** One load of quant bytes (null: the vector width is not supported, scalar decoding). */
    private static final VectorSpecies<Byte> BS = KQuants.STEP_BYTES;

    @Override public GgmlType type() { return GgmlType.Q5_K; }

    @Override
    public void dequantize(MemorySegment src, long offset, float[] dst, int dstOff, int n) {
        KQuants.checkRange(GgmlType.Q5_K, n, src.byteSize(), offset, dst.length, dstOff);
        int y = dstOff;
        for (int b = 0; b < n / QK_K; b++) {
            long o = offset + (long) BLOCK_BYTES * b;
            float d = KQuants.f16(src, o), min = KQuants.f16(src, o + 2);
            long ql = o + QS, qh = o + QH;
            int u1 = 1, u2 = 2;
            for (int is = 0; is < 8; is += 2) {
                float d1 = d * KQuants.scaleMinK4(src, o + 4, is, 0), m1 = min * KQuants.scaleMinK4(src, o + 4, is, 1);
                float d2 = d * KQuants.scaleMinK4(src, o + 4, is + 1, 0), m2 = min * KQuants.scaleMinK4(src, o + 4, is + 1, 1);
                for (int l = 0; l < 32; ++l)
                    dst[y++] = d1 * ((KQuants.u8(src, ql + l) & 0xF) + ((KQuants.u8(src, qh + l) & u1) != 0 ? 16 : 0)) - m1;
                for (int l = 0; l < 32; ++l)
                    dst[y++] = d2 * ((KQuants.u8(src, ql + l) >> 4) + ((KQuants.u8(src, qh + l) & u2) != 0 ? 16 : 0)) - m2;
                ql += 32;
                u1 <<= 2;
                u2 <<= 2;
            }
        }
    }

    /** quantize_row_q5_K_ref. */
    @Override
    public void quantize(float[] src, int srcOff, int n, MemorySegment dst, long offset) {
        KQuants.checkRange(GgmlType.Q5_K, n, dst.byteSize(), offset, src.length, srcOff);
        byte[] L = new byte[QK_K];
        for (int b = 0; b < n / QK_K; b++) {
            long o = offset + (long) BLOCK_BYTES * b;
            KQuants.quantizeScalesK4(src, srcOff + QK_K * b, 31, -0.5f, 0.1f, 15, L, dst, o);
            long qh = o + QH, ql = o + QS;
            dst.asSlice(qh, QK_K / 8).fill((byte) 0);
            int m1 = 1, m2 = 2;
            for (int n0 = 0; n0 < QK_K; n0 += 64) {
                for (int j = 0; j < 32; ++j) {
                    int l1 = L[n0 + j];
                    if (l1 > 15) {
                        l1 -= 16;
                        KQuants.orByte(dst, qh + j, m1);
                    }
                    int l2 = L[n0 + j + 32];
                    if (l2 > 15) {
                        l2 -= 16;
                        KQuants.orByte(dst, qh + j, m2);
                    }
                    dst.set(ValueLayout.JAVA_BYTE, ql + j, (byte) (l1 | (l2 << 4)));
                }
                m1 <<= 2;
                m2 <<= 2;
                ql += 32;
            }
        }
    }

    @Override
    public void matmulScalar(QMatrix w, int r0, int r1, float[] x, int xStride, int nVec, float[] out, int outStride) {
        KQuants.matmulScalarViaRow(this, w, r0, r1, x, xStride, nVec, out, outStride);
    }

    @Override
    public void matmul(QMatrix w, int r0, int r1, float[] x, int xStride, int nVec, float[] out, int outStride) {
        if (BS == null) KQuants.matmulViaRow(this, w, r0, r1, x, xStride, nVec, out, outStride);
        else KQuants.matmulDecoded(Q5_KFormat::dequantizeRow, w, r0, r1, x, xStride, nVec, out, outStride);
    }

    /**
     * Vectorized exact dequantization of a row: fma(q, d1, -m1) equals ggml's d1 * q - m1 because d1 * q is exact
     * (11 + 6 + 5 significant bits).
     */
    static void dequantizeRow(MemorySegment s, long base, int nb, float[] dst, float[] sm) {
        for (int b = 0; b < nb; b++) {
            long o = base + (long) BLOCK_BYTES * b;
            Q4_KFormat.scalesMins(s, o, sm); // same d, dmin and 12 scale bytes at the start of the block
            int y = QK_K * b;
            for (int g = 0; g < 4; g++) {
                FloatVector dA = FloatVector.broadcast(FS, sm[2 * g]), mA = FloatVector.broadcast(FS, -sm[8 + 2 * g]);
                FloatVector dB = FloatVector.broadcast(FS, sm[2 * g + 1]), mB = FloatVector.broadcast(FS, -sm[9 + 2 * g]);
                for (int h = 0; h < 32; h += STEP) {
                    ByteVector qb = ByteVector.fromMemorySegment(BS, s, o + QS + 32 * g + h, ByteOrder.LITTLE_ENDIAN);
                    ByteVector hbb = ByteVector.fromMemorySegment(BS, s, o + QH + h, ByteOrder.LITTLE_ENDIAN);
                    for (int p = 0; p < PARTS; p++) {
                        IntVector q = (IntVector) qb.convertShape(VectorOperators.ZERO_EXTEND_B2I, IS, p);
                        IntVector hb = (IntVector) hbb.convertShape(VectorOperators.ZERO_EXTEND_B2I, IS, p);
                        IntVector lo = q.and(0xF).or(hb.lanewise(VectorOperators.LSHR, 2 * g).and(1).lanewise(VectorOperators.LSHL, 4));
                        IntVector hi = q.lanewise(VectorOperators.LSHR, 4)
                                .or(hb.lanewise(VectorOperators.LSHR, 2 * g + 1).and(1).lanewise(VectorOperators.LSHL, 4));
                        int yi = y + 64 * g + h + p * L;
                        ((FloatVector) lo.convert(VectorOperators.I2F, 0)).fma(dA, mA).intoArray(dst, yi);
                        ((FloatVector) hi.convert(VectorOperators.I2F, 0)).fma(dB, mB).intoArray(dst, yi + 32);
                    }
                }
            }
        }
    }
}
