package io.moeflow.kernels;

import java.lang.foreign.MemorySegment;

/** F16: placeholder until its kernels land. */
final class F16Format implements TensorFormat {
    @Override public GgmlType type() { return GgmlType.F16; }
    @Override public void dequantize(MemorySegment src, long offset, float[] dst, int dstOff, int n) { throw new UnsupportedOperationException("F16 not implemented yet"); }
    @Override public void quantize(float[] src, int srcOff, int n, MemorySegment dst, long offset) { throw new UnsupportedOperationException("F16 not implemented yet"); }
    @Override public void matmul(QMatrix w, int r0, int r1, float[] x, int xStride, int nVec, float[] out, int outStride) { throw new UnsupportedOperationException("F16 not implemented yet"); }
    @Override public void matmulScalar(QMatrix w, int r0, int r1, float[] x, int xStride, int nVec, float[] out, int outStride) { throw new UnsupportedOperationException("F16 not implemented yet"); }
}
