package io.moeflow.kernels;

import java.lang.foreign.MemorySegment;

/** Q2_K: placeholder until its kernels land. */
final class Q2_KFormat implements TensorFormat {
    @Override public GgmlType type() { return GgmlType.Q2_K; }
    @Override public void dequantize(MemorySegment src, long offset, float[] dst, int dstOff, int n) { throw new UnsupportedOperationException("Q2_K not implemented yet"); }
    @Override public void quantize(float[] src, int srcOff, int n, MemorySegment dst, long offset) { throw new UnsupportedOperationException("Q2_K not implemented yet"); }
    @Override public void matmul(QMatrix w, int r0, int r1, float[] x, int xStride, int nVec, float[] out, int outStride) { throw new UnsupportedOperationException("Q2_K not implemented yet"); }
    @Override public void matmulScalar(QMatrix w, int r0, int r1, float[] x, int xStride, int nVec, float[] out, int outStride) { throw new UnsupportedOperationException("Q2_K not implemented yet"); }
}
