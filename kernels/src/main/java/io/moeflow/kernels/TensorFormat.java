package io.moeflow.kernels;

import java.lang.foreign.MemorySegment;

/**
 * Everything moeflow does with one ggml tensor type: exact dequantization (the reference), the reference
 * quantizer (for synth and tests), and matrix x vector(s) kernels in a Vector API and a scalar variant.
 *
 * <p>Matrix kernels compute, for rows {@code r0 <= r < r1} and vectors {@code 0 <= v < nVec},
 * {@code out[v * outStride + r] = sum_c W[r][c] * x[v * xStride + c]}. Each block of weights is decoded once
 * and applied to all vectors (the batched-expert case). Implementations allocate nothing per call.
 */
public interface TensorFormat {
    GgmlType type();

    /** Exact scalar dequantization of {@code n} values (a multiple of the block size) starting at byte {@code offset}. */
    void dequantize(MemorySegment src, long offset, float[] dst, int dstOff, int n);

    /** Reference quantization of {@code n} values (a multiple of the block size), as ggml's quantize_row_*_ref. */
    void quantize(float[] src, int srcOff, int n, MemorySegment dst, long offset);

    /** False for the types ggml quantizes only with an importance matrix: their {@link #quantize} throws. */
    default boolean quantizes() {
        return true;
    }

    /** Vector API kernel. */
    void matmul(QMatrix w, int r0, int r1, float[] x, int xStride, int nVec, float[] out, int outStride);

    /** Scalar kernel with the same contract (the path a native image or a CPU without vectors takes). */
    void matmulScalar(QMatrix w, int r0, int r1, float[] x, int xStride, int nVec, float[] out, int outStride);
}
