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
import jdk.incubator.vector.VectorShuffle;
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
    private static final VectorSpecies<Integer> IS = IntVector.SPECIES_PREFERRED;
    /** Bytes loaded per step: one per float lane (null: scalar fallback). */
    private static final VectorSpecies<Byte> BS = KQuants.byteSpeciesPerFloatLane();

    /**
     * Vectorized get_scale_min_k4 for 16 int lanes: lane k < 8 is scale k, lane 8 + k min k. Each lane takes the low
     * bits from byte SCALE_SRC (shifted right by SCALE_SHIFT, masked by SCALE_MASK) and, for sub-blocks 4..7, two high
     * bits from bits 6-7 of byte HIGH_SRC.
     */
    private static final boolean VECTOR_SCALES = IS.length() == 16;
    private static final VectorSpecies<Byte> B128 = ByteVector.SPECIES_128;
    private static final VectorShuffle<Integer> SCALE_SRC =
            VECTOR_SCALES ? VectorShuffle.fromValues(IS, 0, 1, 2, 3, 8, 9, 10, 11, 4, 5, 6, 7, 8, 9, 10, 11) : null;
    private static final VectorShuffle<Integer> HIGH_SRC =
            VECTOR_SCALES ? VectorShuffle.fromValues(IS, 0, 0, 0, 0, 0, 1, 2, 3, 0, 0, 0, 0, 4, 5, 6, 7) : null;
    private static final IntVector SCALE_SHIFT = VECTOR_SCALES ? IntVector.fromArray(IS, new int[] {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 4, 4, 4, 4}, 0) : null;
    private static final IntVector SCALE_MASK = VECTOR_SCALES ? IntVector.fromArray(IS, new int[] {63, 63, 63, 63, 15, 15, 15, 15, 63, 63, 63, 63, 15, 15, 15, 15}, 0) : null;
    private static final IntVector HIGH_MASK = VECTOR_SCALES ? IntVector.fromArray(IS, new int[] {0, 0, 0, 0, 0x30, 0x30, 0x30, 0x30, 0, 0, 0, 0, 0x30, 0x30, 0x30, 0x30}, 0) : null;
    private static final VectorMask<Float> SCALE_LANES = VECTOR_SCALES ? VectorMask.fromLong(FS, 0xFF) : null;

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
            // The decode case: dequantize in registers, no round trip through memory.
            for (int r = r0; r < r1; r++) out[r] = dot1(s, w.rowOffset(r), nb, x, 0, sm);
            return;
        }
        KQuants.matmulDecoded(Q4_KFormat::dequantizeRow, w, r0, r1, x, xStride, nVec, out, outStride);
    }

    /**
     * Dot product of one row with x. fma(q, d1, -m1) equals ggml's d1 * q - m1 bit for bit: d1 * q is exact
     * (11-bit f16 mantissa x 6-bit scale x 4-bit q fit in a float), so both round once.
     */
    private static float dot1(MemorySegment s, long base, int nb, float[] x, int xo, float[] sm) {
        int len = FS.length();
        FloatVector acc0 = FloatVector.zero(FS), acc1 = acc0;
        for (int b = 0; b < nb; b++) {
            long o = base + (long) BLOCK_BYTES * b;
            scalesMins(s, o, sm);
            int xb = xo + QK_K * b;
            for (int g = 0; g < 4; g++) {
                FloatVector dA = FloatVector.broadcast(FS, sm[2 * g]), mA = FloatVector.broadcast(FS, -sm[8 + 2 * g]);
                FloatVector dB = FloatVector.broadcast(FS, sm[2 * g + 1]), mB = FloatVector.broadcast(FS, -sm[9 + 2 * g]);
                for (int h = 0; h < 32; h += len) {
                    IntVector q = (IntVector) ByteVector.fromMemorySegment(BS, s, o + QS + 32 * g + h, ByteOrder.LITTLE_ENDIAN)
                            .convertShape(VectorOperators.B2I, IS, 0);
                    FloatVector lo = (FloatVector) q.and(0xF).convert(VectorOperators.I2F, 0);
                    FloatVector hi = (FloatVector) q.lanewise(VectorOperators.LSHR, 4).and(0xF).convert(VectorOperators.I2F, 0);
                    acc0 = lo.fma(dA, mA).fma(FloatVector.fromArray(FS, x, xb + 64 * g + h), acc0);
                    acc1 = hi.fma(dB, mB).fma(FloatVector.fromArray(FS, x, xb + 64 * g + 32 + h), acc1);
                }
            }
        }
        return VectorMath.sum(acc0.add(acc1));
    }

    /** {@code sm[j] = d * sc_j}, {@code sm[8 + j] = dmin * m_j} for the block at {@code o}. */
    static void scalesMins(MemorySegment s, long o, float[] sm) {
        if (!VECTOR_SCALES) {
            KQuants.scalesMinsK4(s, o, sm); // the shuffles below are written for 16 int lanes
            return;
        }
        // bytes 4..19 of the block: the 12 scale bytes (and 4 bytes of nibbles, unused)
        IntVector b = ((IntVector) ByteVector.fromMemorySegment(B128, s, o + 4, ByteOrder.LITTLE_ENDIAN)
                .convertShape(VectorOperators.B2I, IS, 0)).and(0xFF);
        IntVector low = b.rearrange(SCALE_SRC).lanewise(VectorOperators.LSHR, SCALE_SHIFT).and(SCALE_MASK);
        IntVector high = b.rearrange(HIGH_SRC).lanewise(VectorOperators.LSHR, 2).and(HIGH_MASK); // (byte >> 6) << 4
        FloatVector dd = FloatVector.broadcast(FS, KQuants.f16(s, o + 2)).blend(KQuants.f16(s, o), SCALE_LANES);
        ((FloatVector) low.or(high).convert(VectorOperators.I2F, 0)).mul(dd).intoArray(sm, 0);
    }

    /** Vectorized exact dequantization of a row of {@code nb} blocks into {@code dst[0 ..]}. */
    static void dequantizeRow(MemorySegment s, long base, int nb, float[] dst, float[] sm) {
        int len = FS.length();
        for (int b = 0; b < nb; b++) {
            long o = base + (long) BLOCK_BYTES * b;
            scalesMins(s, o, sm);
            int y = QK_K * b;
            for (int g = 0; g < 4; g++) {
                FloatVector dA = FloatVector.broadcast(FS, sm[2 * g]), mA = FloatVector.broadcast(FS, -sm[8 + 2 * g]);
                FloatVector dB = FloatVector.broadcast(FS, sm[2 * g + 1]), mB = FloatVector.broadcast(FS, -sm[9 + 2 * g]);
                for (int h = 0; h < 32; h += len) {
                    IntVector q = (IntVector) ByteVector.fromMemorySegment(BS, s, o + QS + 32 * g + h, ByteOrder.LITTLE_ENDIAN)
                            .convertShape(VectorOperators.B2I, IS, 0);
                    ((FloatVector) q.and(0xF).convert(VectorOperators.I2F, 0)).fma(dA, mA).intoArray(dst, y + 64 * g + h);
                    ((FloatVector) q.lanewise(VectorOperators.LSHR, 4).and(0xF).convert(VectorOperators.I2F, 0))
                            .fma(dB, mB).intoArray(dst, y + 64 * g + 32 + h);
                }
            }
        }
    }
}
