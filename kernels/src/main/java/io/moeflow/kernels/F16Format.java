package io.moeflow.kernels;

import java.lang.foreign.MemorySegment;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.ShortVector;
import jdk.incubator.vector.VectorOperators;

/** F16: IEEE half precision, 2 bytes little-endian a value; rows of any length. */
final class F16Format extends BlockFormat {
    F16Format() { super(GgmlType.F16); }

    @Override
    public void dequantize(MemorySegment src, long offset, float[] dst, int dstOff, int n) {
        checkRange(src, offset, dst, dstOff, n);
        for (int i = 0; i < n; i++) dst[dstOff + i] = f16(src, offset + 2L * i);
    }

    /** ggml_fp32_to_fp16_row: round to nearest even. */
    @Override
    public void quantize(float[] src, int srcOff, int n, MemorySegment dst, long offset) {
        checkRange(dst, offset, src, srcOff, n);
        for (int i = 0; i < n; i++) putF16(dst, offset + 2L * i, src[srcOff + i]);
    }

    /*
     * JDK 25's Vector API has no half-float conversion, so halves are widened to ints and converted with integer
     * ops as ggml's ggml_compute_fp16_to_fp32 does, exactly for every input: exponent and mantissa moved into float
     * position with the exponent rebased by 224 and scaled by 2^-112 (normals, infinities and NaNs; no subnormal
     * operand ever reaches the multiply), subnormals as float(0.5 + m * 2^-24) - 0.5, then the sign or-ed in.
     */
    @Override
    float dot1(MemorySegment seg, long base, int cols, float[] x, int xo) {
        FloatVector acc = FloatVector.zero(F);
        int upper = cols - cols % L;
        for (int c = 0; c < upper; c += L) {
            IntVector h = (IntVector) ShortVector.fromMemorySegment(S, seg, base + 2L * c, LE).convertShape(VectorOperators.S2I, I, 0);
            IntVector mag = h.and(0x7FFF);
            FloatVector normal = mag.lanewise(VectorOperators.LSHL, 13).add(0x70000000).reinterpretAsFloats().mul(0x1p-112f);
            FloatVector subnormal = mag.or(0x3F000000).reinterpretAsFloats().sub(0.5f);
            FloatVector w = normal.blend(subnormal, mag.compare(VectorOperators.LT, 0x400).cast(F)).reinterpretAsInts()
                    .or(h.lanewise(VectorOperators.LSHL, 16).and(0x80000000)).reinterpretAsFloats();
            acc = w.fma(FloatVector.fromArray(F, x, xo + c), acc);
        }
        float s = VectorMath.sum(acc);
        for (int c = upper; c < cols; c++) s += Float.float16ToFloat(seg.get(I16, base + 2L * c)) * x[xo + c];
        return s;
    }

    @Override
    void dot4(MemorySegment seg, long base, int cols, float[] x, int xo, int xStride, float[] out, int oo, int outStride) {
        int x0 = xo, x1 = x0 + xStride, x2 = x1 + xStride, x3 = x2 + xStride;
        FloatVector a0 = FloatVector.zero(F), a1 = a0, a2 = a0, a3 = a0;
        int upper = cols - cols % L;
        for (int c = 0; c < upper; c += L) {
            IntVector h = (IntVector) ShortVector.fromMemorySegment(S, seg, base + 2L * c, LE).convertShape(VectorOperators.S2I, I, 0);
            IntVector mag = h.and(0x7FFF);
            FloatVector normal = mag.lanewise(VectorOperators.LSHL, 13).add(0x70000000).reinterpretAsFloats().mul(0x1p-112f);
            FloatVector subnormal = mag.or(0x3F000000).reinterpretAsFloats().sub(0.5f);
            FloatVector w = normal.blend(subnormal, mag.compare(VectorOperators.LT, 0x400).cast(F)).reinterpretAsInts()
                    .or(h.lanewise(VectorOperators.LSHL, 16).and(0x80000000)).reinterpretAsFloats();
            a0 = w.fma(FloatVector.fromArray(F, x, x0 + c), a0);
            a1 = w.fma(FloatVector.fromArray(F, x, x1 + c), a1);
            a2 = w.fma(FloatVector.fromArray(F, x, x2 + c), a2);
            a3 = w.fma(FloatVector.fromArray(F, x, x3 + c), a3);
        }
        store4(out, oo, outStride, a0, a1, a2, a3);
        for (int c = upper; c < cols; c++) {
            float wc = Float.float16ToFloat(seg.get(I16, base + 2L * c));
            out[oo] += wc * x[x0 + c];
            out[oo + outStride] += wc * x[x1 + c];
            out[oo + 2 * outStride] += wc * x[x2 + c];
            out[oo + 3 * outStride] += wc * x[x3 + c];
        }
    }
}
