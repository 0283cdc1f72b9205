package io.moeflow.kernels;

import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorSpecies;

/**
 * Matrix x many vectors (prefill, large expert groups): dequantizes {@link #TILE} rows at a time exactly into
 * a per-thread F32 tile that stays in L1, then runs a 4-row x 4-vector register-blocked F32 micro-kernel over
 * it. Every weight block is decoded once per call, whatever the number of vectors, and each loaded weight
 * vector feeds four FMAs. Same contract as {@link TensorFormat#matmul}.
 */
public final class DequantGemm {
    private DequantGemm() {}

    /** Below this many vectors the format's own kernel (decoding in registers) is faster. */
    public static final int MIN_VECTORS = 8;
    static final int TILE = 4;
    private static final VectorSpecies<Float> S = FloatVector.SPECIES_PREFERRED;
    private static final ThreadLocal<float[]> TILES = ThreadLocal.withInitial(() -> new float[0]);

    public static void matmul(QMatrix w, int r0, int r1, float[] x, int xStride, int nVec, float[] out, int outStride) {
        TensorFormat f = Formats.of(w.type());
        int cols = w.cols();
        float[] tile = TILES.get();
        if (tile.length < TILE * cols) {
            tile = new float[TILE * cols];
            TILES.set(tile);
        }
        for (int r = r0; r < r1; r += TILE) {
            int rows = Math.min(TILE, r1 - r);
            f.decode(w.data(), w.rowOffset(r), tile, 0, rows * cols);
            if (rows == TILE) tile4(tile, cols, r, x, xStride, nVec, out, outStride);
            else for (int i = 0; i < rows; i++) row1(tile, i * cols, cols, r + i, x, xStride, nVec, out, outStride);
        }
    }

    /** Four dequantized rows against all vectors, four vectors at a time. */
    private static void tile4(float[] t, int n, int r, float[] x, int xStride, int nVec, float[] out, int outStride) {
        int upper = S.loopBound(n), len = S.length();
        int w1 = n, w2 = 2 * n, w3 = 3 * n;
        int v = 0;
        for (; v + 4 <= nVec; v += 4) {
            int x0 = v * xStride, x1 = x0 + xStride, x2 = x1 + xStride, x3 = x2 + xStride;
            FloatVector a00 = FloatVector.zero(S), a01 = a00, a02 = a00, a03 = a00;
            FloatVector a10 = a00, a11 = a00, a12 = a00, a13 = a00;
            FloatVector a20 = a00, a21 = a00, a22 = a00, a23 = a00;
            FloatVector a30 = a00, a31 = a00, a32 = a00, a33 = a00;
            int c = 0;
            for (; c < upper; c += len) {
                FloatVector b0 = FloatVector.fromArray(S, x, x0 + c), b1 = FloatVector.fromArray(S, x, x1 + c);
                FloatVector b2 = FloatVector.fromArray(S, x, x2 + c), b3 = FloatVector.fromArray(S, x, x3 + c);
                FloatVector q = FloatVector.fromArray(S, t, c);
                a00 = q.fma(b0, a00); a01 = q.fma(b1, a01); a02 = q.fma(b2, a02); a03 = q.fma(b3, a03);
                q = FloatVector.fromArray(S, t, w1 + c);
                a10 = q.fma(b0, a10); a11 = q.fma(b1, a11); a12 = q.fma(b2, a12); a13 = q.fma(b3, a13);
                q = FloatVector.fromArray(S, t, w2 + c);
                a20 = q.fma(b0, a20); a21 = q.fma(b1, a21); a22 = q.fma(b2, a22); a23 = q.fma(b3, a23);
                q = FloatVector.fromArray(S, t, w3 + c);
                a30 = q.fma(b0, a30); a31 = q.fma(b1, a31); a32 = q.fma(b2, a32); a33 = q.fma(b3, a33);
            }
            float s00 = VectorMath.sum(a00), s01 = VectorMath.sum(a01), s02 = VectorMath.sum(a02), s03 = VectorMath.sum(a03);
            float s10 = VectorMath.sum(a10), s11 = VectorMath.sum(a11), s12 = VectorMath.sum(a12), s13 = VectorMath.sum(a13);
            float s20 = VectorMath.sum(a20), s21 = VectorMath.sum(a21), s22 = VectorMath.sum(a22), s23 = VectorMath.sum(a23);
            float s30 = VectorMath.sum(a30), s31 = VectorMath.sum(a31), s32 = VectorMath.sum(a32), s33 = VectorMath.sum(a33);
            for (; c < n; c++) {
                float b0 = x[x0 + c], b1 = x[x1 + c], b2 = x[x2 + c], b3 = x[x3 + c];
                float q0 = t[c], q1 = t[w1 + c], q2 = t[w2 + c], q3 = t[w3 + c];
                s00 += q0 * b0; s01 += q0 * b1; s02 += q0 * b2; s03 += q0 * b3;
                s10 += q1 * b0; s11 += q1 * b1; s12 += q1 * b2; s13 += q1 * b3;
                s20 += q2 * b0; s21 += q2 * b1; s22 += q2 * b2; s23 += q2 * b3;
                s30 += q3 * b0; s31 += q3 * b1; s32 += q3 * b2; s33 += q3 * b3;
            }
            int o0 = v * outStride + r, o1 = o0 + outStride, o2 = o1 + outStride, o3 = o2 + outStride;
            out[o0] = s00; out[o0 + 1] = s10; out[o0 + 2] = s20; out[o0 + 3] = s30;
            out[o1] = s01; out[o1 + 1] = s11; out[o1 + 2] = s21; out[o1 + 3] = s31;
            out[o2] = s02; out[o2 + 1] = s12; out[o2 + 2] = s22; out[o2 + 3] = s32;
            out[o3] = s03; out[o3 + 1] = s13; out[o3 + 2] = s23; out[o3 + 3] = s33;
        }
        for (; v < nVec; v++)
            for (int i = 0; i < 4; i++)
                out[v * outStride + r + i] = VectorMath.dot(t, i * n, x, v * xStride, n);
    }

    private static void row1(float[] t, int to, int n, int r, float[] x, int xStride, int nVec, float[] out, int outStride) {
        for (int v = 0; v < nVec; v++) out[v * outStride + r] = VectorMath.dot(t, to, x, v * xStride, n);
    }
}
