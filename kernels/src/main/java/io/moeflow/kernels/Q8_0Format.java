package io.moeflow.kernels;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import jdk.incubator.vector.ByteVector;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorOperators;

/** Q8_0 (ggml block_q8_0): per 32 values an f16 scale d and 32 int8 quants q; value = q * d. 34 bytes. */
final class Q8_0Format extends BlockFormat {
    private static final int QK = 32;
    private static final int BYTES = 34;

    Q8_0Format() { super(GgmlType.Q8_0); }

    @Override
    public void dequantize(MemorySegment src, long offset, float[] dst, int dstOff, int n) {
        checkRange(src, offset, dst, dstOff, n);
        for (int b = 0; b < n / QK; b++) {
            long o = offset + (long) b * BYTES;
            float d = f16(src, o);
            for (int j = 0; j < QK; j++) dst[dstOff + b * QK + j] = src.get(ValueLayout.JAVA_BYTE, o + 2 + j) * d;
        }
    }

    /**
     * The same values as {@link #dequantize} with vector code (one exact multiply per value, so bit-identical):
     * the decode step of the tiled GEMM.
     */
    @Override
    public boolean decodesInVectors() {
        return vectorShapesOk();
    }

    @Override
    public void decode(MemorySegment src, long offset, float[] dst, int dstOff, int n) {
        if (!vectorShapesOk()) {
            dequantize(src, offset, dst, dstOff, n);
            return;
        }
        for (int b = 0; b < n / QK; b++) {
            long o = offset + (long) b * BYTES;
            float d = Float.float16ToFloat(src.get(I16, o));
            int to = dstOff + b * QK;
            for (int p = 0; p < QK; p += STEP) {
                ByteVector q = ByteVector.fromMemorySegment(B, src, o + 2 + p, LE);
                for (int k = 0; k < PARTS; k++)
                    ((FloatVector) q.convertShape(VectorOperators.B2F, F, k)).mul(d).intoArray(dst, to + p + k * L);
            }
        }
    }

    /** quantize_row_q8_0_ref: d = amax / 127, q = roundf(v / d) (computed as v * (1/d), like ggml). */
    @Override
    public void quantize(float[] src, int srcOff, int n, MemorySegment dst, long offset) {
        checkRange(dst, offset, src, srcOff, n);
        for (int b = 0; b < n / QK; b++) {
            int s = srcOff + b * QK;
            long o = offset + (long) b * BYTES;
            float amax = 0f;
            for (int j = 0; j < QK; j++) amax = Math.max(amax, Math.abs(src[s + j]));
            float d = amax / 127;
            float id = d != 0f ? 1.0f / d : 0f;
            putF16(dst, o, d);
            for (int j = 0; j < QK; j++) dst.set(ValueLayout.JAVA_BYTE, o + 2 + j, (byte) (int) roundf(src[s + j] * id));
        }
    }

    // The weights of a block are summed against x as small integers, then scaled once: exact, since q * d is.
    // Two accumulators (even and odd blocks) halve the dependency chain through acc.
    @Override
    float dot1(MemorySegment seg, long base, int cols, float[] x, int xo) {
        FloatVector acc0 = FloatVector.zero(F), acc1 = acc0;
        long o = base;
        int c = 0;
        for (; c + 2 * QK <= cols; c += 2 * QK, o += 2 * BYTES) {
            FloatVector d0 = FloatVector.broadcast(F, Float.float16ToFloat(seg.get(I16, o)));
            FloatVector d1 = FloatVector.broadcast(F, Float.float16ToFloat(seg.get(I16, o + BYTES)));
            FloatVector s0 = FloatVector.zero(F), s1 = s0;
            for (int p = 0; p < QK; p += STEP) {
                ByteVector b0 = ByteVector.fromMemorySegment(B, seg, o + 2 + p, LE);
                ByteVector b1 = ByteVector.fromMemorySegment(B, seg, o + BYTES + 2 + p, LE);
                for (int k = 0; k < PARTS; k++) {
                    int cp = xo + c + p + k * L;
                    s0 = ((FloatVector) b0.convertShape(VectorOperators.B2F, F, k)).fma(FloatVector.fromArray(F, x, cp), s0);
                    s1 = ((FloatVector) b1.convertShape(VectorOperators.B2F, F, k)).fma(FloatVector.fromArray(F, x, cp + QK), s1);
                }
            }
            acc0 = s0.fma(d0, acc0);
            acc1 = s1.fma(d1, acc1);
        }
        if (c < cols) {
            FloatVector d0 = FloatVector.broadcast(F, Float.float16ToFloat(seg.get(I16, o)));
            FloatVector s0 = FloatVector.zero(F);
            for (int p = 0; p < QK; p += STEP) {
                ByteVector b0 = ByteVector.fromMemorySegment(B, seg, o + 2 + p, LE);
                for (int k = 0; k < PARTS; k++)
                    s0 = ((FloatVector) b0.convertShape(VectorOperators.B2F, F, k)).fma(FloatVector.fromArray(F, x, xo + c + p + k * L), s0);
            }
            acc0 = s0.fma(d0, acc0);
        }
        return VectorMath.sum(acc0.add(acc1));
    }

    @Override
    boolean hasDot2() {
        return true;
    }

    // Two vectors (the common expert group when many streams decode at once): the block sums of each vector scaled
    // once, as in dot1, so each weight costs one widening and two FMAs instead of the padded four-vector kernel's four.
    @Override
    void dot2(MemorySegment seg, long base, int cols, float[] x, int xo, int xStride, float[] out, int oo, int outStride) {
        int x0 = xo, x1 = xo + xStride;
        FloatVector a0 = FloatVector.zero(F), a1 = a0;
        long o = base;
        for (int c = 0; c < cols; c += QK, o += BYTES) {
            FloatVector d = FloatVector.broadcast(F, Float.float16ToFloat(seg.get(I16, o)));
            FloatVector s0 = FloatVector.zero(F), s1 = s0;
            for (int p = 0; p < QK; p += STEP) {
                ByteVector b = ByteVector.fromMemorySegment(B, seg, o + 2 + p, LE);
                for (int k = 0; k < PARTS; k++) {
                    FloatVector w = (FloatVector) b.convertShape(VectorOperators.B2F, F, k);
                    int cp = c + p + k * L;
                    s0 = w.fma(FloatVector.fromArray(F, x, x0 + cp), s0);
                    s1 = w.fma(FloatVector.fromArray(F, x, x1 + cp), s1);
                }
            }
            a0 = s0.fma(d, a0);
            a1 = s1.fma(d, a1);
        }
        out[oo] = VectorMath.sum(a0);
        out[oo + outStride] = VectorMath.sum(a1);
    }

    // With four vectors, scaling the weights first (2 multiplies a block) beats scaling four block sums.
    @Override
    void dot4(MemorySegment seg, long base, int cols, float[] x, int xo, int xStride, float[] out, int oo, int outStride) {
        int x0 = xo, x1 = x0 + xStride, x2 = x1 + xStride, x3 = x2 + xStride;
        FloatVector a0 = FloatVector.zero(F), a1 = a0, a2 = a0, a3 = a0;
        long o = base;
        for (int c = 0; c < cols; c += QK, o += BYTES) {
            float d = Float.float16ToFloat(seg.get(I16, o));
            for (int p = 0; p < QK; p += STEP) {
                ByteVector b = ByteVector.fromMemorySegment(B, seg, o + 2 + p, LE);
                for (int k = 0; k < PARTS; k++) {
                    FloatVector w = ((FloatVector) b.convertShape(VectorOperators.B2F, F, k)).mul(d);
                    int cp = c + p + k * L;
                    a0 = w.fma(FloatVector.fromArray(F, x, x0 + cp), a0);
                    a1 = w.fma(FloatVector.fromArray(F, x, x1 + cp), a1);
                    a2 = w.fma(FloatVector.fromArray(F, x, x2 + cp), a2);
                    a3 = w.fma(FloatVector.fromArray(F, x, x3 + cp), a3);
                }
            }
        }
        store4(out, oo, outStride, a0, a1, a2, a3);
    }
}
