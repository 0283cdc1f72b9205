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
 * Q2_K (ggml block_q2_K, 84 bytes per 256 values): scales[16] (low nibble: scale, high nibble: min, one pair per
 * 16 values), qs[64] 2-bit levels, f16 d, f16 dmin. In half {@code n} of 128 values, bits 2s of qs[32n + l] hold
 * value 128n + 32s + l; value = d * sc * q - dmin * m.
 */
final class Q2_KFormat implements TensorFormat {
    private static final int BLOCK_BYTES = 84;
    private static final int QS = 16, D = 80, DMIN = 82;
    private static final VectorSpecies<Float> FS = KQuants.FS;
    private static final VectorSpecies<Integer> IS = IntVector.SPECIES_PREFERRED;
    /** Bytes loaded per step: one per float lane (null: scalar fallback). */
    private static final VectorSpecies<Byte> BS = KQuants.byteSpeciesPerFloatLane();

    @Override public GgmlType type() { return GgmlType.Q2_K; }

    @Override
    public void dequantize(MemorySegment src, long offset, float[] dst, int dstOff, int n) {
        KQuants.checkRange(GgmlType.Q2_K, n, src.byteSize(), offset, dst.length, dstOff);
        int y = dstOff;
        for (int b = 0; b < n / QK_K; b++) {
            long o = offset + (long) BLOCK_BYTES * b;
            float d = KQuants.f16(src, o + D), min = KQuants.f16(src, o + DMIN);
            long q = o + QS;
            int is = 0;
            for (int n0 = 0; n0 < QK_K; n0 += 128) {
                int shift = 0;
                for (int j = 0; j < 4; ++j) {
                    int sc = KQuants.u8(src, o + is++);
                    float dl = d * (sc & 0xF), ml = min * (sc >> 4);
                    for (int l = 0; l < 16; ++l) dst[y++] = dl * ((KQuants.u8(src, q + l) >> shift) & 3) - ml;
                    sc = KQuants.u8(src, o + is++);
                    dl = d * (sc & 0xF);
                    ml = min * (sc >> 4);
                    for (int l = 0; l < 16; ++l) dst[y++] = dl * ((KQuants.u8(src, q + l + 16) >> shift) & 3) - ml;
                    shift += 2;
                }
                q += 32;
            }
        }
    }

    /** quantize_row_q2_K_ref. */
    @Override
    public void quantize(float[] src, int srcOff, int n, MemorySegment dst, long offset) {
        KQuants.checkRange(GgmlType.Q2_K, n, dst.byteSize(), offset, src.length, srcOff);
        byte[] L = new byte[QK_K];
        byte[] laux = new byte[16];
        float[] weights = new float[16];
        float[] mins = new float[QK_K / 16];
        float[] scales = new float[QK_K / 16];
        final float q4scale = 15.f;
        for (int b = 0; b < n / QK_K; b++) {
            long o = offset + (long) BLOCK_BYTES * b;
            int xo = srcOff + QK_K * b;
            float maxScale = 0, maxMin = 0;
            for (int j = 0; j < QK_K / 16; ++j) {
                for (int l = 0; l < 16; ++l) weights[l] = Math.abs(src[xo + 16 * j + l]);
                scales[j] = KQuants.makeQkx2Quants(16, 3, src, xo + 16 * j, weights, L, 16 * j, mins, j, laux, -0.5f, 0.1f, 15, true);
                if (scales[j] > maxScale) maxScale = scales[j];
                if (mins[j] > maxMin) maxMin = mins[j];
            }
            if (maxScale > 0) {
                float iscale = q4scale / maxScale;
                for (int j = 0; j < QK_K / 16; ++j)
                    dst.set(ValueLayout.JAVA_BYTE, o + j, (byte) KQuants.nearestInt(iscale * scales[j]));
                KQuants.putF16(dst, o + D, maxScale / q4scale);
            } else {
                dst.asSlice(o, QK_K / 16).fill((byte) 0);
                KQuants.putF16(dst, o + D, 0.f);
            }
            if (maxMin > 0) {
                float iscale = q4scale / maxMin;
                for (int j = 0; j < QK_K / 16; ++j)
                    KQuants.orByte(dst, o + j, KQuants.nearestInt(iscale * mins[j]) << 4);
                KQuants.putF16(dst, o + DMIN, maxMin / q4scale);
            } else {
                KQuants.putF16(dst, o + DMIN, 0.f);
            }
            float dAll = KQuants.f16(dst, o + D), mAll = KQuants.f16(dst, o + DMIN);
            for (int j = 0; j < QK_K / 16; ++j) {
                int sc = KQuants.u8(dst, o + j);
                float d = dAll * (sc & 0xF);
                if (d == 0) continue;
                float dm = mAll * (sc >> 4);
                for (int ii = 0; ii < 16; ++ii) {
                    int l = KQuants.nearestInt((src[xo + 16 * j + ii] + dm) / d);
                    L[16 * j + ii] = (byte) Math.max(0, Math.min(3, l));
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
        else KQuants.matmulDecoded(Q2_KFormat::dequantizeRow, w, r0, r1, x, xStride, nVec, out, outStride);
    }

    /**
     * Vectorized exact dequantization of a row; {@code sm[k]} = d * sc_k, {@code sm[16 + k]} = -dmin * m_k of the
     * current block. fma(q, dl, -ml) equals ggml's dl * q - ml: dl * q is exact.
     */
    static void dequantizeRow(MemorySegment s, long base, int nb, float[] dst, float[] sm) {
        int len = FS.length();
        for (int b = 0; b < nb; b++) {
            long o = base + (long) BLOCK_BYTES * b;
            float d = KQuants.f16(s, o + D), min = KQuants.f16(s, o + DMIN);
            // the 16 scale bytes as two longs: per-byte segment reads in this loop can make C2 deoptimize repeatedly
            long s0 = s.get(KQuants.LONG_LE, o), s1 = s.get(KQuants.LONG_LE, o + 8);
            for (int k = 0; k < 16; k++) {
                int sc = (int) ((k < 8 ? s0 : s1) >>> (8 * (k & 7))) & 0xFF;
                sm[k] = d * (sc & 0xF);
                sm[16 + k] = -(min * (sc >> 4));
            }
            for (int half = 0; half < 2; half++) {
                for (int sh = 0; sh < 4; sh++) {
                    int y = QK_K * b + 128 * half + 32 * sh;
                    for (int h = 0; h < 32; h += len) {
                        IntVector q = (IntVector) ByteVector.fromMemorySegment(BS, s, o + QS + 32 * half + h, ByteOrder.LITTLE_ENDIAN)
                                .convertShape(VectorOperators.B2I, IS, 0);
                        int is = 8 * half + 2 * sh + h / 16;
                        ((FloatVector) q.lanewise(VectorOperators.LSHR, 2 * sh).and(3).convert(VectorOperators.I2F, 0))
                                .fma(sm[is], sm[16 + is]).intoArray(dst, y + h);
                    }
                }
            }
        }
    }
}
