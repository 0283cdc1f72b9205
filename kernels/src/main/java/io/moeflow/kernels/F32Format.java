package io.moeflow.kernels;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorSpecies;

/** F32: 4-byte little-endian floats. */
final class F32Format implements TensorFormat {
    private static final ValueLayout.OfFloat F = ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final VectorSpecies<Float> S = FloatVector.SPECIES_PREFERRED;
    /** Vectors per register block: how many activation vectors share one weight load. */
    private static final int VB = 4;

    @Override public GgmlType type() { return GgmlType.F32; }

    @Override
    public void dequantize(MemorySegment src, long offset, float[] dst, int dstOff, int n) {
        MemorySegment.copy(src, F, offset, dst, dstOff, n);
    }

    @Override
    public void quantize(float[] src, int srcOff, int n, MemorySegment dst, long offset) {
        MemorySegment.copy(src, srcOff, dst, F, offset, n);
    }

    @Override
    public void matmulScalar(QMatrix w, int r0, int r1, float[] x, int xStride, int nVec, float[] out, int outStride) {
        MemorySegment d = w.data();
        int n = w.cols();
        for (int r = r0; r < r1; r++) {
            long base = w.rowOffset(r);
            for (int v = 0; v < nVec; v++) {
                int xo = v * xStride;
                float s = 0f;
                for (int c = 0; c < n; c++) s += d.get(F, base + 4L * c) * x[xo + c];
                out[v * outStride + r] = s;
            }
        }
    }

    @Override
    public void matmul(QMatrix w, int r0, int r1, float[] x, int xStride, int nVec, float[] out, int outStride) {
        MemorySegment d = w.data();
        int n = w.cols();
        int upper = S.loopBound(n);
        int len = S.length();
        for (int r = r0; r < r1; r++) {
            long base = w.rowOffset(r);
            int v = 0;
            for (; v + VB <= nVec; v += VB) {
                int x0 = v * xStride, x1 = x0 + xStride, x2 = x1 + xStride, x3 = x2 + xStride;
                FloatVector a0 = FloatVector.zero(S), a1 = a0, a2 = a0, a3 = a0;
                int c = 0;
                for (; c < upper; c += len) {
                    FloatVector wv = FloatVector.fromMemorySegment(S, d, base + 4L * c, ByteOrder.LITTLE_ENDIAN);
                    a0 = wv.fma(FloatVector.fromArray(S, x, x0 + c), a0);
                    a1 = wv.fma(FloatVector.fromArray(S, x, x1 + c), a1);
                    a2 = wv.fma(FloatVector.fromArray(S, x, x2 + c), a2);
                    a3 = wv.fma(FloatVector.fromArray(S, x, x3 + c), a3);
                }
                float s0 = VectorMath.sum(a0), s1 = VectorMath.sum(a1);
                float s2 = VectorMath.sum(a2), s3 = VectorMath.sum(a3);
                for (; c < n; c++) {
                    float wc = d.get(F, base + 4L * c);
                    s0 += wc * x[x0 + c]; s1 += wc * x[x1 + c]; s2 += wc * x[x2 + c]; s3 += wc * x[x3 + c];
                }
                out[v * outStride + r] = s0;
                out[(v + 1) * outStride + r] = s1;
                out[(v + 2) * outStride + r] = s2;
                out[(v + 3) * outStride + r] = s3;
            }
            for (; v < nVec; v++) {
                int xo = v * xStride;
                FloatVector a = FloatVector.zero(S);
                int c = 0;
                for (; c < upper; c += len)
                    a = FloatVector.fromMemorySegment(S, d, base + 4L * c, ByteOrder.LITTLE_ENDIAN).fma(FloatVector.fromArray(S, x, xo + c), a);
                float s = VectorMath.sum(a);
                for (; c < n; c++) s += d.get(F, base + 4L * c) * x[xo + c];
                out[v * outStride + r] = s;
            }
        }
    }
}
