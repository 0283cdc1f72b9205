package io.moeflow.kernels;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import jdk.incubator.vector.ByteVector;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.VectorOperators;

/**
 * IQ4_XS (ggml block_iq4_xs, 4.25 bits per weight): per 256 values an f16 d, a uint16 of high scale bits, 4 bytes
 * of low scale bits (a 6-bit ls per 32 values) and 128 bytes of kvalues_iq4nl codes laid out as in IQ4_NL;
 * value = d * (ls - 32) * kvalues[code]. 136 bytes. At most 11 + 5 + 7 significant bits: exact in float whatever
 * the order of the two multiplications. Kernels as IQ4_NL's, with one scale per 32 values.
 */
final class IQ4_XSFormat extends BlockFormat {
    private static final int BYTES = 136, SCALES_H = 2, SCALES_L = 4, QS = 8;

    IQ4_XSFormat() { super(GgmlType.IQ4_XS); }

    /** The 6-bit scale of sub-block {@code ib} from the low nibbles at SCALES_L and the bit pairs of SCALES_H. */
    private static int subScale(MemorySegment s, long o, int ib) {
        int low = s.get(ValueLayout.JAVA_BYTE, o + SCALES_L + ib / 2) >> 4 * (ib % 2);
        int high = s.get(I16, o + SCALES_H) >> 2 * ib;
        return (low & 0xf) | (high & 3) << 4;
    }

    @Override
    public void dequantize(MemorySegment src, long offset, float[] dst, int dstOff, int n) {
        checkRange(src, offset, dst, dstOff, n);
        int[] kvalues = IQ4_NLFormat.KVALUES;
        int y = dstOff;
        for (int i = 0; i < n / 256; i++) {
            long o = offset + (long) i * BYTES;
            float d = f16(src, o);
            for (int ib = 0; ib < 8; ++ib) {
                float dl = d * (subScale(src, o, ib) - 32);
                for (int j = 0; j < 16; ++j) {
                    int qs = src.get(ValueLayout.JAVA_BYTE, o + QS + 16 * ib + j) & 0xFF;
                    dst[y + j] = dl * kvalues[qs & 0xf];
                    dst[y + j + 16] = dl * kvalues[qs >> 4];
                }
                y += 32;
            }
        }
    }

    /** Loads of L bytes and a 16-entry table in two L-lane vectors: 8 or 16 lanes only (128-bit machines: scalar). */
    @Override
    boolean vectorShapesOk() {
        return L >= 8;
    }

    @Override
    float dot1(MemorySegment seg, long base, int cols, float[] x, int xo) {
        IntVector t0 = IntVector.fromArray(I, IQ4_NLFormat.KVALUE_BITS, 0), t1 = IntVector.fromArray(I, IQ4_NLFormat.KVALUE_BITS, L);
        FloatVector accLo = FloatVector.zero(F), accHi = accLo;
        long o = base;
        for (int c = xo; c < xo + cols; c += 256, o += BYTES) {
            float d = f16(seg, o);
            for (int ib = 0; ib < 8; ib++) {
                float dl = d * (subScale(seg, o, ib) - 32);
                for (int p = 0; p < 16; p += L) {
                    IntVector q = (IntVector) ByteVector.fromMemorySegment(B, seg, o + QS + 16 * ib + p, LE).convertShape(VectorOperators.B2I, I, 0);
                    FloatVector lo = q.and(0xF).selectFrom(t0, t1).reinterpretAsFloats().mul(dl);
                    FloatVector hi = q.lanewise(VectorOperators.ASHR, 4).and(0xF).selectFrom(t0, t1).reinterpretAsFloats().mul(dl);
                    accLo = lo.fma(FloatVector.fromArray(F, x, c + 32 * ib + p), accLo);
                    accHi = hi.fma(FloatVector.fromArray(F, x, c + 32 * ib + 16 + p), accHi);
                }
            }
        }
        return VectorMath.sum(accLo.add(accHi));
    }

    @Override
    void dot4(MemorySegment seg, long base, int cols, float[] x, int xo, int xStride, float[] out, int oo, int outStride) {
        IntVector t0 = IntVector.fromArray(I, IQ4_NLFormat.KVALUE_BITS, 0), t1 = IntVector.fromArray(I, IQ4_NLFormat.KVALUE_BITS, L);
        int x1 = xStride, x2 = 2 * xStride, x3 = 3 * xStride;
        FloatVector a0 = FloatVector.zero(F), a1 = a0, a2 = a0, a3 = a0;
        long o = base;
        for (int c = xo; c < xo + cols; c += 256, o += BYTES) {
            float d = f16(seg, o);
            for (int ib = 0; ib < 8; ib++) {
                float dl = d * (subScale(seg, o, ib) - 32);
                for (int p = 0; p < 16; p += L) {
                    IntVector q = (IntVector) ByteVector.fromMemorySegment(B, seg, o + QS + 16 * ib + p, LE).convertShape(VectorOperators.B2I, I, 0);
                    FloatVector lo = q.and(0xF).selectFrom(t0, t1).reinterpretAsFloats().mul(dl);
                    FloatVector hi = q.lanewise(VectorOperators.ASHR, 4).and(0xF).selectFrom(t0, t1).reinterpretAsFloats().mul(dl);
                    int cl = c + 32 * ib + p, ch = cl + 16;
                    a0 = hi.fma(FloatVector.fromArray(F, x, ch), lo.fma(FloatVector.fromArray(F, x, cl), a0));
                    a1 = hi.fma(FloatVector.fromArray(F, x, x1 + ch), lo.fma(FloatVector.fromArray(F, x, x1 + cl), a1));
                    a2 = hi.fma(FloatVector.fromArray(F, x, x2 + ch), lo.fma(FloatVector.fromArray(F, x, x2 + cl), a2));
                    a3 = hi.fma(FloatVector.fromArray(F, x, x3 + ch), lo.fma(FloatVector.fromArray(F, x, x3 + cl), a3));
                }
            }
        }
        store4(out, oo, outStride, a0, a1, a2, a3);
    }

    /** quantize_row_iq4_xs_ref (quantize_iq4_xs without importance matrix): ggml's search with ntry = 7. */
    @Override
    public void quantize(float[] src, int srcOff, int n, MemorySegment dst, long offset) {
        checkRange(dst, offset, src, srcOff, n);
        byte[] L = new byte[256];
        float[] scales = new float[8], weight = new float[32];
        for (int ibl = 0; ibl < n / 256; ibl++) {
            long o = offset + (long) ibl * BYTES;
            IQ4_NLFormat.quantizeImpl(256, src, srcOff + 256 * ibl, dst, o, o + SCALES_H, o + SCALES_L, scales, weight, L, 7);
        }
    }
}
