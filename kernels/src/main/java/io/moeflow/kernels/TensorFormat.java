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

    /**
     * True where {@link #decode} is vector code, so decoding a tile once costs less than re-decoding the weights
     * per vector group ({@link Kernels#path} then takes the tiled GEMM for many vectors). K-quants have their own
     * decode-a-row-once kernels and F32 needs no decode.
     */
    default boolean decodesInVectors() {
        return false;
    }

    /** The values of {@link #dequantize} bit for bit, by the fastest code this format has (vector code where
     * {@link #decodesInVectors}); no range checks beyond the caller's. */
    default void decode(MemorySegment src, long offset, float[] dst, int dstOff, int n) {
        dequantize(src, offset, dst, dstOff, n);
    }

    /** Vector API kernel (where the format's vector shapes do not fit {@link Kernels#LANES}, its fallback). */
    void matmul(QMatrix w, int r0, int r1, float[] x, int xStride, int nVec, float[] out, int outStride);

    /** Scalar kernel with the same contract (the path a native image or a CPU without vectors takes). */
    void matmulScalar(QMatrix w, int r0, int r1, float[] x, int xStride, int nVec, float[] out, int outStride);
}
