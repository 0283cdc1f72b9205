package io.moeflow.kernels;

import java.lang.foreign.MemorySegment;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.ShortVector;
import jdk.incubator.vector.VectorOperators;

/** BF16: the top 16 bits of an IEEE float, 2 bytes little-endian a value; rows of any length. */
final class BF16Format extends BlockFormat {
    BF16Format() { super(GgmlType.BF16); }

    static float bf16ToFloat(short h) {
        return Float.intBitsToFloat(h << 16);
    }

    /** ggml_compute_fp32_to_bf16: round to nearest even; NaNs stay NaN (quiet bit forced). */
    static short floatToBf16(float v) {
        int i = Float.floatToRawIntBits(v);
        if ((i & 0x7fffffff) > 0x7f800000) return (short) ((i >>> 16) | 64);
        return (short) ((i + (0x7fff + ((i >>> 16) & 1))) >>> 16);
    }

    @Override
    public void dequantize(MemorySegment src, long offset, float[] dst, int dstOff, int n) {
        checkRange(src, offset, dst, dstOff, n);
        for (int i = 0; i < n; i++) dst[dstOff + i] = bf16ToFloat(src.get(I16, offset + 2L * i));
    }

    @Override
    public void quantize(float[] src, int srcOff, int n, MemorySegment dst, long offset) {
        checkRange(dst, offset, src, srcOff, n);
        for (int i = 0; i < n; i++) dst.set(I16, offset + 2L * i, floatToBf16(src[srcOff + i]));
    }

    @Override
    float dot1(MemorySegment seg, long base, int cols, float[] x, int xo) {
        FloatVector acc = FloatVector.zero(F);
        int upper = cols - cols % L;
        for (int c = 0; c < upper; c += L) {
            FloatVector w = ((IntVector) ShortVector.fromMemorySegment(S, seg, base + 2L * c, LE).convertShape(VectorOperators.S2I, I, 0))
                    .lanewise(VectorOperators.LSHL, 16).reinterpretAsFloats();
            acc = w.fma(FloatVector.fromArray(F, x, xo + c), acc);
        }
        float s = VectorMath.sum(acc);
        for (int c = upper; c < cols; c++) s += bf16ToFloat(seg.get(I16, base + 2L * c)) * x[xo + c];
        return s;
    }

    @Override
    void dot4(MemorySegment seg, long base, int cols, float[] x, int xo, int xStride, float[] out, int oo, int outStride) {
        int x0 = xo, x1 = x0 + xStride, x2 = x1 + xStride, x3 = x2 + xStride;
        FloatVector a0 = FloatVector.zero(F), a1 = a0, a2 = a0, a3 = a0;
        int upper = cols - cols % L;
        for (int c = 0; c < upper; c += L) {
            FloatVector w = ((IntVector) ShortVector.fromMemorySegment(S, seg, base + 2L * c, LE).convertShape(VectorOperators.S2I, I, 0))
                    .lanewise(VectorOperators.LSHL, 16).reinterpretAsFloats();
            a0 = w.fma(FloatVector.fromArray(F, x, x0 + c), a0);
            a1 = w.fma(FloatVector.fromArray(F, x, x1 + c), a1);
            a2 = w.fma(FloatVector.fromArray(F, x, x2 + c), a2);
            a3 = w.fma(FloatVector.fromArray(F, x, x3 + c), a3);
        }
        store4(out, oo, outStride, a0, a1, a2, a3);
        for (int c = upper; c < cols; c++) {
            float wc = bf16ToFloat(seg.get(I16, base + 2L * c));
            out[oo] += wc * x[x0 + c];
            out[oo + outStride] += wc * x[x1 + c];
            out[oo + 2 * outStride] += wc * x[x2 + c];
            out[oo + 3 * outStride] += wc * x[x3 + c];
        }
    }
}
