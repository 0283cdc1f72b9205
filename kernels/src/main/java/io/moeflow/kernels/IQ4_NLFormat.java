package io.moeflow.kernels;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import jdk.incubator.vector.ByteVector;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.VectorOperators;

/**
 * IQ4_NL (ggml block_iq4_nl, 4.5 bits per weight): per 32 values an f16 d and 16 bytes of 4-bit codes into the
 * non-linear table kvalues_iq4nl (byte j: value j low nibble, value j + 16 high nibble); value = d * kvalues[code].
 * 18 bytes. d * kvalue has at most 11 + 7 significant bits: exact in float. The kernels look codes up in the table
 * with a lane permute, as MXFP4's do. Also home of ggml's quantize_row_iq4_nl_impl, which IQ4_XS shares.
 */
final class IQ4_NLFormat extends BlockFormat {
    private static final int BYTES = 18, QK = 32;
    static final int[] KVALUES = IQGrids.KvaluesIq4nl.TABLE;
    /** KVALUES as float bits, padded to 32 entries so it fills two vectors of up to 16 lanes. */
    static final int[] KVALUE_BITS = new int[32];

    static {
        for (int i = 0; i < 16; i++) KVALUE_BITS[i] = Float.floatToRawIntBits(KVALUES[i]);
    }

    IQ4_NLFormat() { super(GgmlType.IQ4_NL); }

    @Override
    public void dequantize(MemorySegment src, long offset, float[] dst, int dstOff, int n) {
        checkRange(src, offset, dst, dstOff, n);
        int y = dstOff;
        for (int i = 0; i < n / QK; i++) {
            long o = offset + (long) i * BYTES;
            float d = f16(src, o);
            for (int j = 0; j < QK / 2; ++j) {
                int qs = src.get(ValueLayout.JAVA_BYTE, o + 2 + j) & 0xFF;
                dst[y + j] = d * KVALUES[qs & 0xf];
                dst[y + j + QK / 2] = d * KVALUES[qs >> 4];
            }
            y += QK;
        }
    }

    /** Loads of L bytes and a 16-entry table in two L-lane vectors: 8 or 16 lanes only (128-bit machines: scalar). */
    @Override
    boolean vectorShapesOk() {
        return L >= 8;
    }

    @Override
    float dot1(MemorySegment seg, long base, int cols, float[] x, int xo) {
        IntVector t0 = IntVector.fromArray(I, KVALUE_BITS, 0), t1 = IntVector.fromArray(I, KVALUE_BITS, L);
        // Low and high halves in separate accumulators: two short FMA chains instead of one long one.
        FloatVector accLo = FloatVector.zero(F), accHi = accLo;
        long o = base;
        for (int c = xo; c < xo + cols; c += QK, o += BYTES) {
            float d = f16(seg, o);
            for (int p = 0; p < QK / 2; p += L) {
                IntVector q = (IntVector) ByteVector.fromMemorySegment(B, seg, o + 2 + p, LE).convertShape(VectorOperators.B2I, I, 0);
                FloatVector lo = q.and(0xF).selectFrom(t0, t1).reinterpretAsFloats().mul(d);
                FloatVector hi = q.lanewise(VectorOperators.ASHR, 4).and(0xF).selectFrom(t0, t1).reinterpretAsFloats().mul(d);
                accLo = lo.fma(FloatVector.fromArray(F, x, c + p), accLo);
                accHi = hi.fma(FloatVector.fromArray(F, x, c + QK / 2 + p), accHi);
            }
        }
        return VectorMath.sum(accLo.add(accHi));
    }

    @Override
    void dot4(MemorySegment seg, long base, int cols, float[] x, int xo, int xStride, float[] out, int oo, int outStride) {
        IntVector t0 = IntVector.fromArray(I, KVALUE_BITS, 0), t1 = IntVector.fromArray(I, KVALUE_BITS, L);
        int x1 = xStride, x2 = 2 * xStride, x3 = 3 * xStride;
        FloatVector a0 = FloatVector.zero(F), a1 = a0, a2 = a0, a3 = a0;
        long o = base;
        for (int c = xo; c < xo + cols; c += QK, o += BYTES) {
            float d = f16(seg, o);
            for (int p = 0; p < QK / 2; p += L) {
                IntVector q = (IntVector) ByteVector.fromMemorySegment(B, seg, o + 2 + p, LE).convertShape(VectorOperators.B2I, I, 0);
                FloatVector lo = q.and(0xF).selectFrom(t0, t1).reinterpretAsFloats().mul(d);
                FloatVector hi = q.lanewise(VectorOperators.ASHR, 4).and(0xF).selectFrom(t0, t1).reinterpretAsFloats().mul(d);
                int cl = c + p, ch = cl + QK / 2;
                a0 = hi.fma(FloatVector.fromArray(F, x, ch), lo.fma(FloatVector.fromArray(F, x, cl), a0));
                a1 = hi.fma(FloatVector.fromArray(F, x, x1 + ch), lo.fma(FloatVector.fromArray(F, x, x1 + cl), a1));
                a2 = hi.fma(FloatVector.fromArray(F, x, x2 + ch), lo.fma(FloatVector.fromArray(F, x, x2 + cl), a2));
                a3 = hi.fma(FloatVector.fromArray(F, x, x3 + ch), lo.fma(FloatVector.fromArray(F, x, x3 + cl), a3));
            }
        }
        store4(out, oo, outStride, a0, a1, a2, a3);
    }

    /**
     * quantize_row_iq4_nl_ref: for each 32 values the least-squares scale over the codes nearest x * 127 / amax, no
     * scale search (ntry = -1). llama-quantize writes IQ4_NL files with quantize_iq4_nl instead (ntry = 7, a search
     * over 15 trial scales), so its bytes differ from these; for IQ4_XS the reference is what llama-quantize runs.
     */
    @Override
    public void quantize(float[] src, int srcOff, int n, MemorySegment dst, long offset) {
        checkRange(dst, offset, src, srcOff, n);
        // One L for the whole row, as in ggml: an all-zero block (d = 0) keeps the codes of the block before it.
        byte[] L = new byte[QK];
        float[] scales = new float[1], weight = new float[QK];
        for (int ibl = 0; ibl < n / QK; ibl++)
            quantizeImpl(QK, src, srcOff + QK * ibl, dst, offset + (long) ibl * BYTES, -1, -1, scales, weight, L, -1);
    }

    /** ggml's best_index_int8 over kvalues_iq4nl: the nearest entry, the upper one on ties. */
    static int bestIndex(float x) {
        int[] val = KVALUES;
        if (x <= val[0]) return 0;
        if (x >= val[15]) return 15;
        int ml = 0, mu = 15;
        while (mu - ml > 1) {
            int mav = (ml + mu) / 2;
            if (x < val[mav]) mu = mav;
            else ml = mav;
        }
        return x - val[mu - 1] < val[mu] - x ? mu - 1 : mu;
    }

    /**
     * quantize_row_iq4_nl_impl without importance weights (weights x^2), block size 32, for one super-block of
     * {@code superBlockSize} values at {@code x[xo ..]}: writes the f16 d at {@code dh}, the codes at {@code q4} and,
     * for IQ4_XS ({@code superBlockSize} 256), the 6-bit sub-block scales at {@code scalesH} (uint16) and
     * {@code scalesL} (4 bytes). Every float expression keeps ggml's operation order, so the bytes are ggml's.
     */
    static void quantizeImpl(int superBlockSize, float[] x, int xo, MemorySegment y, long dh, long scalesH, long scalesL,
                             float[] scales, float[] weight, byte[] L, int ntry) {
        final int blockSize = 32;
        int[] values = KVALUES;
        long q4 = superBlockSize == QK ? dh + 2 : dh + 8;
        y.asSlice(q4, superBlockSize / 2).fill((byte) 0);
        y.set(I16, dh, Float.floatToFloat16(0.f));

        float maxScale = 0, amaxScale = 0;
        for (int ib = 0; ib < superBlockSize / blockSize; ++ib) {
            int xb = xo + ib * blockSize, lb = ib * blockSize;
            for (int j = 0; j < blockSize; ++j) weight[j] = x[xb + j] * x[xb + j];
            float amax = 0, max = 0;
            for (int j = 0; j < blockSize; ++j) {
                float ax = Math.abs(x[xb + j]);
                if (ax > amax) {
                    amax = ax;
                    max = x[xb + j];
                }
            }
            if (amax < KQuants.GROUP_MAX_EPS) {
                scales[ib] = 0;
                continue;
            }
            float d = ntry > 0 ? -max / values[0] : max / values[0];
            float id = 1 / d;
            float sumqx = 0, sumq2 = 0;
            for (int j = 0; j < blockSize; ++j) {
                float al = id * x[xb + j];
                int l = bestIndex(al);
                L[lb + j] = (byte) l;
                float q = values[l];
                float w = weight[j];
                sumqx += w * q * x[xb + j];
                sumq2 += w * q * q;
            }
            d = sumq2 > 0 ? sumqx / sumq2 : 0.f;
            float best = d * sumqx;
            for (int itry = -ntry; itry <= ntry; ++itry) {
                id = (itry + values[0]) / max;
                sumqx = sumq2 = 0;
                for (int j = 0; j < blockSize; ++j) {
                    float al = id * x[xb + j];
                    int l = bestIndex(al);
                    float q = values[l];
                    float w = weight[j];
                    sumqx += w * q * x[xb + j];
                    sumq2 += w * q * q;
                }
                if (sumq2 > 0 && sumqx * sumqx > best * sumq2) {
                    d = sumqx / sumq2;
                    best = d * sumqx;
                }
            }
            scales[ib] = d;
            float absD = Math.abs(d);
            if (absD > amaxScale) {
                amaxScale = absD;
                maxScale = d;
            }
        }

        if (superBlockSize / blockSize > 1) {
            int scalesHigh = 0;
            float d = -maxScale / 32;
            y.set(I16, dh, Float.floatToFloat16(d));
            float id = d != 0 ? 1 / d : 0.f;
            for (int ib = 0; ib < superBlockSize / blockSize; ++ib) {
                int l = KQuants.nearestInt(id * scales[ib]);
                l = Math.max(-32, Math.min(31, l));
                float dl = d * l;
                float idl = dl != 0 ? 1 / dl : 0.f;
                int xb = xo + ib * blockSize;
                for (int j = 0; j < blockSize; ++j) L[ib * blockSize + j] = (byte) bestIndex(idl * x[xb + j]);
                l += 32;
                int lLow = l & 0xf, lHigh = l >> 4;
                long sl = scalesL + ib / 2;
                if (ib % 2 == 0) y.set(ValueLayout.JAVA_BYTE, sl, (byte) lLow);
                else y.set(ValueLayout.JAVA_BYTE, sl, (byte) (y.get(ValueLayout.JAVA_BYTE, sl) | lLow << 4));
                scalesHigh |= lHigh << 2 * (ib % 8);
            }
            y.set(I16, scalesH, (short) scalesHigh);
        } else {
            y.set(I16, dh, Float.floatToFloat16(scales[0]));
            if (ntry > 0) {
                float id = scales[0] != 0 ? 1 / scales[0] : 0;
                for (int j = 0; j < superBlockSize; ++j) L[j] = (byte) bestIndex(id * x[xo + j]);
            }
        }

        for (int i = 0; i < superBlockSize / 32; ++i)
            for (int j = 0; j < 16; ++j)
                y.set(ValueLayout.JAVA_BYTE, q4 + 16 * i + j, (byte) (L[32 * i + j] | L[32 * i + 16 + j] << 4));
    }
}
