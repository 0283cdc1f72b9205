package io.moeflow.kernels;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorShape;
import jdk.incubator.vector.VectorSpecies;

/**
 * Shared pieces of the K-quant formats (Q2_K .. Q6_K, super-blocks of 256 values): the helper routines of
 * ggml's reference quantizers (ported operation by operation so that the bytes come out identical), little-endian
 * field access, and the "dequantize one row into a scratch buffer, then F32 dot products" matrix kernels.
 */
final class KQuants {
    private KQuants() {}

    static final int QK_K = 256;
    /** ggml's GROUP_MAX_EPS: a group whose largest magnitude is below this is treated as all zero. */
    static final float GROUP_MAX_EPS = 1e-15f;

    static final ValueLayout.OfShort SHORT_LE = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    static final ValueLayout.OfInt INT_LE = ValueLayout.JAVA_INT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    static final ValueLayout.OfLong LONG_LE = ValueLayout.JAVA_LONG_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);

    static final VectorSpecies<Float> FS = FloatVector.SPECIES_PREFERRED;
    /** Float lanes per vector: 4 (128-bit), 8 (AVX2) or 16 (AVX-512); other widths take the scalar decoders. */
    static final int LANES = Kernels.LANES;
    static final boolean VECTOR_SHAPES_OK = LANES >= 4 && LANES <= 16;
    /** Quant bytes per vector load: one per float lane, but at least 8 (the narrowest byte vector). */
    static final int STEP = Math.max(LANES, 8);
    /** Int vectors widened from one load: 1, or 2 on 128-bit machines (parts 0 and 1 of an 8-byte load). */
    static final int PARTS = STEP / LANES;
    /** The byte species of one load of {@link #STEP} quant bytes. */
    static final VectorSpecies<Byte> STEP_BYTES =
            VECTOR_SHAPES_OK ? VectorSpecies.of(byte.class, VectorShape.forBitSize(STEP * 8)) : null;
    static final VectorSpecies<Integer> IS = jdk.incubator.vector.IntVector.SPECIES_PREFERRED;
    /** Vectors per register block in {@link #dotRow}: how many activation vectors share one weight load. */
    private static final int VB = 4;

    /** Per-thread sums of the activations per 32-value sub-block (see {@link #subBlockSums}). */
    private static final ThreadLocal<float[][]> SUB_SUMS = ThreadLocal.withInitial(() -> new float[][] {new float[0]});

    /**
     * Sums of {@code x[xo ..]} over each 32-value sub-block of {@code n} values, summed in order, laid out per
     * 256-value block as 16 floats: 8 zeros, then the 8 sums. One FMA of a block's {@code [d * sc_j, dmin * m_j]}
     * vector with these 16 floats (or of its min half, on narrower vectors) then yields the block's min term
     * {@code sum_j dmin * m_j * sum(x in j)}. Per thread; valid until the next call.
     */
    static float[] subBlockSums(float[] x, int xo, int n) {
        float[][] holder = SUB_SUMS.get();
        int len = n / QK_K * 16;
        if (holder[0].length < len) holder[0] = new float[len]; // zeros stay zero: only the sums are written
        float[] s = holder[0];
        for (int j = 0; j < n / 32; j++) {
            float t = 0f;
            for (int i = xo + 32 * j, e = i + 32; i < e; i++) t += x[i];
            s[16 * (j >> 3) + 8 + (j & 7)] = t;
        }
        return s;
    }

    /** Per-thread scratch for the scales of one block (decoders use up to 32 floats). */
    private static final ThreadLocal<float[]> BLOCK_SCRATCH = ThreadLocal.withInitial(() -> new float[32]);

    /** One row of dequantized weights per thread; grown on demand, so steady-state calls allocate nothing. */
    private static final ThreadLocal<float[][]> ROW_SCRATCH = ThreadLocal.withInitial(() -> new float[][] {new float[0]});

    static float f16(MemorySegment s, long off) {
        return Float.float16ToFloat(s.get(SHORT_LE, off));
    }

    static void putF16(MemorySegment s, long off, float v) {
        s.set(SHORT_LE, off, Float.floatToFloat16(v));
    }

    /** Round to nearest with ties to even, exactly ggml's nearest_int bit trick (valid for |f| < 2^22). */
    static int nearestInt(float f) {
        int i = Float.floatToRawIntBits(f + 12582912f);
        return (i & 0x007fffff) - 0x00400000;
    }

    static void checkBlocks(GgmlType t, int n) {
        if (n < 0 || n % QK_K != 0)
            throw new IllegalArgumentException(t + ": value count " + n + " is not a multiple of the block size " + QK_K);
    }

    /** A per-thread float buffer of at least {@code n} values. */
    static float[] rowScratch(int n) {
        float[][] holder = ROW_SCRATCH.get();
        if (holder[0].length < n) holder[0] = new float[n];
        return holder[0];
    }

    // ---------------------------------------------------------------- matrix kernels via a dequantized row

    /** Vector kernel for any format: each row is dequantized once into scratch, then dotted with all vectors. */
    static void matmulViaRow(TensorFormat f, QMatrix w, int r0, int r1, float[] x, int xStride, int nVec, float[] out, int outStride) {
        int n = w.cols();
        float[] row = rowScratch(n);
        MemorySegment d = w.data();
        for (int r = r0; r < r1; r++) {
            f.dequantize(d, w.rowOffset(r), row, 0, n);
            dotRow(row, n, x, xStride, nVec, out, outStride, r);
        }
    }

    /** Vectorized exact dequantization of a row of {@code blocks} blocks at {@code rowOffset} into {@code dst[0 ..]}. */
    interface RowDecoder {
        void decode(MemorySegment s, long rowOffset, int blocks, float[] dst, float[] blockScratch);
    }

    /** Vector kernel: each row is decoded once by {@code dec} into scratch, then dotted with all vectors. */
    static void matmulDecoded(RowDecoder dec, QMatrix w, int r0, int r1, float[] x, int xStride, int nVec, float[] out, int outStride) {
        int n = w.cols();
        float[] row = rowScratch(n);
        float[] sc = BLOCK_SCRATCH.get();
        MemorySegment d = w.data();
        for (int r = r0; r < r1; r++) {
            dec.decode(d, w.rowOffset(r), n / QK_K, row, sc);
            dotRow(row, n, x, xStride, nVec, out, outStride, r);
        }
    }

    static float[] blockScratch() {
        return BLOCK_SCRATCH.get();
    }

    /**
     * A byte species with one lane per float lane, for loading packed quants and widening them to int lanes; null
     * where that shape does not exist or has more than 16 lanes (the decoders then fall back to scalar code).
     */
    static VectorSpecies<Byte> byteSpeciesPerFloatLane() {
        int lanes = FS.length();
        return lanes >= 8 && lanes <= 16 ? VectorSpecies.of(byte.class, VectorShape.forBitSize(lanes * 8)) : null;
    }

    /** Scalar kernel for any format, same contract. */
    static void matmulScalarViaRow(TensorFormat f, QMatrix w, int r0, int r1, float[] x, int xStride, int nVec, float[] out, int outStride) {
        int n = w.cols();
        float[] row = rowScratch(n);
        MemorySegment d = w.data();
        for (int r = r0; r < r1; r++) {
            f.dequantize(d, w.rowOffset(r), row, 0, n);
            for (int v = 0; v < nVec; v++) {
                int xo = v * xStride;
                float s = 0f;
                for (int c = 0; c < n; c++) s += row[c] * x[xo + c];
                out[v * outStride + r] = s;
            }
        }
    }

    /**
     * {@code out[v * outStride + r] = row . x[v * xStride ..]} for all {@code nVec} vectors; {@code n} is a multiple
     * of 256 and so of the lane count.
     */
    static void dotRow(float[] row, int n, float[] x, int xStride, int nVec, float[] out, int outStride, int r) {
        int len = FS.length();
        int v = 0;
        for (; v + VB <= nVec; v += VB) {
            int x0 = v * xStride, x1 = x0 + xStride, x2 = x1 + xStride, x3 = x2 + xStride;
            FloatVector a0 = FloatVector.zero(FS), a1 = a0, a2 = a0, a3 = a0;
            for (int c = 0; c < n; c += len) {
                FloatVector wv = FloatVector.fromArray(FS, row, c);
                a0 = wv.fma(FloatVector.fromArray(FS, x, x0 + c), a0);
                a1 = wv.fma(FloatVector.fromArray(FS, x, x1 + c), a1);
                a2 = wv.fma(FloatVector.fromArray(FS, x, x2 + c), a2);
                a3 = wv.fma(FloatVector.fromArray(FS, x, x3 + c), a3);
            }
            out[v * outStride + r] = VectorMath.sum(a0);
            out[(v + 1) * outStride + r] = VectorMath.sum(a1);
            out[(v + 2) * outStride + r] = VectorMath.sum(a2);
            out[(v + 3) * outStride + r] = VectorMath.sum(a3);
        }
        for (; v < nVec; v++) {
            int xo = v * xStride;
            // Two accumulators: one FMA chain would be latency-bound.
            FloatVector a = FloatVector.zero(FS), b = a;
            for (int c = 0; c < n; c += 2 * len) {
                a = FloatVector.fromArray(FS, row, c).fma(FloatVector.fromArray(FS, x, xo + c), a);
                b = FloatVector.fromArray(FS, row, c + len).fma(FloatVector.fromArray(FS, x, xo + c + len), b);
            }
            out[v * outStride + r] = VectorMath.sum(a.add(b));
        }
    }

    // ---------------------------------------------------------------- ggml quantizer helpers (ggml-quants.c)
    // Every expression keeps ggml's float operation order: Java float arithmetic is IEEE single like ggml-base's
    // (built without FMA contraction), which makes the output bytes identical.

    /** make_qx_quants without importance weights: levels L[i] in [0, 2*nmax), returns the scale. */
    static float makeQxQuants(int n, int nmax, float[] x, int xo, byte[] L, int lo, int rmseType) {
        float max = 0, amax = 0;
        for (int i = 0; i < n; ++i) {
            float ax = Math.abs(x[xo + i]);
            if (ax > amax) { amax = ax; max = x[xo + i]; }
        }
        if (amax < GROUP_MAX_EPS) {
            for (int i = 0; i < n; ++i) L[lo + i] = 0;
            return 0f;
        }
        float iscale = -nmax / max;
        if (rmseType == 0) {
            for (int i = 0; i < n; ++i) {
                int l = nearestInt(iscale * x[xo + i]);
                L[lo + i] = (byte) (nmax + Math.max(-nmax, Math.min(nmax - 1, l)));
            }
            return 1 / iscale;
        }
        boolean returnEarly = false;
        if (rmseType < 0) {
            rmseType = -rmseType;
            returnEarly = true;
        }
        float sumlx = 0, suml2 = 0;
        for (int i = 0; i < n; ++i) {
            float xi = x[xo + i];
            int l = nearestInt(iscale * xi);
            l = Math.max(-nmax, Math.min(nmax - 1, l));
            L[lo + i] = (byte) (l + nmax);
            float w = qxWeight(rmseType, xi);
            sumlx += w * xi * l;
            suml2 += w * l * l;
        }
        float scale = suml2 != 0 ? sumlx / suml2 : 0.0f;
        if (returnEarly) return suml2 > 0 ? 0.5f * (scale + 1 / iscale) : 1 / iscale;
        float best = scale * sumlx;
        for (int is = -9; is <= 9; ++is) {
            if (is == 0) continue;
            iscale = -(nmax + 0.1f * is) / max;
            sumlx = suml2 = 0;
            for (int i = 0; i < n; ++i) {
                float xi = x[xo + i];
                int l = nearestInt(iscale * xi);
                l = Math.max(-nmax, Math.min(nmax - 1, l));
                float w = qxWeight(rmseType, xi);
                sumlx += w * xi * l;
                suml2 += w * l * l;
            }
            if (suml2 > 0 && sumlx * sumlx > best * suml2) {
                for (int i = 0; i < n; ++i) {
                    int l = nearestInt(iscale * x[xo + i]);
                    L[lo + i] = (byte) (nmax + Math.max(-nmax, Math.min(nmax - 1, l)));
                }
                scale = sumlx / suml2;
                best = scale * sumlx;
            }
        }
        return scale;
    }

    private static float qxWeight(int rmseType, float x) {
        return switch (rmseType) {
            case 1 -> x * x;
            case 2 -> 1f;
            case 3 -> Math.abs(x);
            default -> (float) Math.sqrt(Math.abs(x));
        };
    }

    /** make_q3_quants: signed levels in [-nmax, nmax) stored as L[i] + nmax, returns the scale. */
    static float makeQ3Quants(int n, int nmax, float[] x, int xo, byte[] L, int lo, boolean doRmse) {
        float max = 0, amax = 0;
        for (int i = 0; i < n; ++i) {
            float ax = Math.abs(x[xo + i]);
            if (ax > amax) { amax = ax; max = x[xo + i]; }
        }
        if (amax < GROUP_MAX_EPS) {
            for (int i = 0; i < n; ++i) L[lo + i] = 0;
            return 0f;
        }
        float iscale = -nmax / max;
        if (doRmse) {
            float sumlx = 0, suml2 = 0;
            for (int i = 0; i < n; ++i) {
                float xi = x[xo + i];
                int l = nearestInt(iscale * xi);
                l = Math.max(-nmax, Math.min(nmax - 1, l));
                L[lo + i] = (byte) l;
                float w = xi * xi;
                sumlx += w * xi * l;
                suml2 += w * l * l;
            }
            for (int itry = 0; itry < 5; ++itry) {
                int nChanged = 0;
                for (int i = 0; i < n; ++i) {
                    float xi = x[xo + i];
                    int li = L[lo + i];
                    float w = xi * xi;
                    float slx = sumlx - w * xi * li;
                    if (slx > 0) {
                        float sl2 = suml2 - w * li * li;
                        int newL = nearestInt(xi * sl2 / slx);
                        newL = Math.max(-nmax, Math.min(nmax - 1, newL));
                        if (newL != li) {
                            slx += w * xi * newL;
                            sl2 += w * newL * newL;
                            if (sl2 > 0 && slx * slx * suml2 > sumlx * sumlx * sl2) {
                                L[lo + i] = (byte) newL;
                                sumlx = slx;
                                suml2 = sl2;
                                ++nChanged;
                            }
                        }
                    }
                }
                if (nChanged == 0) break;
            }
            for (int i = 0; i < n; ++i) L[lo + i] += (byte) nmax;
            return suml2 > 0.0f ? sumlx / suml2 : 0.0f;
        }
        for (int i = 0; i < n; ++i) {
            int l = nearestInt(iscale * x[xo + i]);
            l = Math.max(-nmax, Math.min(nmax - 1, l));
            L[lo + i] = (byte) (l + nmax);
        }
        return 1 / iscale;
    }

    /**
     * make_qkx2_quants: levels L[i] in [0, nmax] for x ~ scale * L - min with weighted least squares over a search of
     * {@code nstep + 1} trial scales. Returns the scale; {@code theMin[mi]} receives the (non-negative) min.
     */
    static float makeQkx2Quants(int n, int nmax, float[] x, int xo, float[] weights, byte[] L, int lo,
                                float[] theMin, int mi, byte[] laux, float rmin, float rdelta, int nstep, boolean useMad) {
        float min = x[xo], max = x[xo];
        float sumW = weights[0];
        float sumX = sumW * x[xo];
        for (int i = 1; i < n; ++i) {
            float xi = x[xo + i];
            if (xi < min) min = xi;
            if (xi > max) max = xi;
            float w = weights[i];
            sumW += w;
            sumX += w * xi;
        }
        if (min > 0) min = 0;
        if (max == min) {
            for (int i = 0; i < n; ++i) L[lo + i] = 0;
            theMin[mi] = -min;
            return 0f;
        }
        float iscale = nmax / (max - min);
        float scale = 1 / iscale;
        float bestError = 0;
        for (int i = 0; i < n; ++i) {
            int l = nearestInt(iscale * (x[xo + i] - min));
            int li = Math.max(0, Math.min(nmax, l));
            L[lo + i] = (byte) li;
            float diff = scale * li + min - x[xo + i];
            diff = useMad ? Math.abs(diff) : diff * diff;
            bestError += weights[i] * diff;
        }
        if (nstep < 1) {
            theMin[mi] = -min;
            return scale;
        }
        for (int is = 0; is <= nstep; ++is) {
            iscale = (rmin + rdelta * is + nmax) / (max - min);
            float sumL = 0, sumL2 = 0, sumXL = 0;
            for (int i = 0; i < n; ++i) {
                int l = nearestInt(iscale * (x[xo + i] - min));
                l = Math.max(0, Math.min(nmax, l));
                laux[i] = (byte) l;
                float w = weights[i];
                sumL += w * l;
                sumL2 += w * l * l;
                sumXL += w * l * x[xo + i];
            }
            float D = sumW * sumL2 - sumL * sumL;
            if (D > 0) {
                float thisScale = (sumW * sumXL - sumX * sumL) / D;
                float thisMin = (sumL2 * sumX - sumL * sumXL) / D;
                if (thisMin > 0) {
                    thisMin = 0;
                    thisScale = sumXL / sumL2;
                }
                float curError = 0;
                for (int i = 0; i < n; ++i) {
                    float diff = thisScale * laux[i] + thisMin - x[xo + i];
                    diff = useMad ? Math.abs(diff) : diff * diff;
                    curError += weights[i] * diff;
                }
                if (curError < bestError) {
                    System.arraycopy(laux, 0, L, lo, n);
                    bestError = curError;
                    scale = thisScale;
                    min = thisMin;
                }
            }
        }
        theMin[mi] = -min;
        return scale;
    }

    /** ggml's get_scale_min_k4 on the 12 scale bytes at {@code so}: the 6-bit scale ({@code which = 0}) or min (1) of sub-block j. */
    static int scaleMinK4(MemorySegment s, long so, int j, int which) {
        if (j < 4) return s.get(ValueLayout.JAVA_BYTE, so + j + 4 * which) & 63;
        int lowNibbles = s.get(ValueLayout.JAVA_BYTE, so + j + 4) & 0xFF;
        int low = which == 0 ? lowNibbles & 0xF : lowNibbles >> 4;
        return low | (((s.get(ValueLayout.JAVA_BYTE, so + j - 4 + 4 * which) & 0xFF) >> 6) << 4);
    }

    /**
     * Scales and mins of one Q4_K/Q5_K block, multiplied out as dequantize_row_q4_K does:
     * {@code dst[j] = d * sc_j}, {@code dst[8 + j] = dmin * m_j}. Reads the 12 scale bytes as one long and one int.
     */
    static void scalesMinsK4(MemorySegment s, long blockOff, float[] dst) {
        float d = f16(s, blockOff), dmin = f16(s, blockOff + 2);
        long lo = s.get(LONG_LE, blockOff + 4);
        int hi = s.get(INT_LE, blockOff + 12);
        for (int j = 0; j < 4; j++) {
            dst[j] = d * ((int) (lo >>> (8 * j)) & 63);
            dst[8 + j] = dmin * ((int) (lo >>> (8 * j + 32)) & 63);
            int sc = ((hi >>> (8 * j)) & 0xF) | (((int) (lo >>> (8 * j + 6)) & 3) << 4);
            int m = ((hi >>> (8 * j + 4)) & 0xF) | (((int) (lo >>> (8 * j + 38)) & 3) << 4);
            dst[4 + j] = d * sc;
            dst[12 + j] = dmin * m;
        }
    }

    /**
     * The scales part of quantize_row_q4_K_ref / q5_K_ref for the block at {@code x[xo ..]}: per 32 values
     * make_qkx2_quants with weights av_x + |x|, then the 6-bit scale/min codes (packed into the 12 bytes at
     * {@code blockOff + 4}), d and dmin (f16 at {@code blockOff}), and the final level choice
     * L = clamp(nearest_int((x + dm) / d), 0, nmax) with the rounded scales.
     */
    static void quantizeScalesK4(float[] x, int xo, int nmax, float rmin, float rdelta, int nstep, byte[] L,
                                 MemorySegment dst, long blockOff) {
        float[] weights = new float[32];
        float[] mins = new float[8];
        float[] scales = new float[8];
        byte[] laux = new byte[32];
        float maxScale = 0, maxMin = 0;
        for (int j = 0; j < 8; ++j) {
            float sumX2 = 0;
            for (int l = 0; l < 32; ++l) sumX2 += x[xo + 32 * j + l] * x[xo + 32 * j + l];
            float avX = (float) Math.sqrt(sumX2 / 32);
            for (int l = 0; l < 32; ++l) weights[l] = avX + Math.abs(x[xo + 32 * j + l]);
            scales[j] = makeQkx2Quants(32, nmax, x, xo + 32 * j, weights, L, 32 * j, mins, j, laux, rmin, rdelta, nstep, false);
            if (scales[j] > maxScale) maxScale = scales[j];
            if (mins[j] > maxMin) maxMin = mins[j];
        }
        float invScale = maxScale > 0 ? 63.f / maxScale : 0.f;
        float invMin = maxMin > 0 ? 63.f / maxMin : 0.f;
        long so = blockOff + 4;
        for (int j = 0; j < 8; ++j) {
            // uint8_t conversion first, then MIN(63, ...), as ggml does
            int ls = Math.min(63, nearestInt(invScale * scales[j]) & 0xFF);
            int lm = Math.min(63, nearestInt(invMin * mins[j]) & 0xFF);
            if (j < 4) {
                dst.set(ValueLayout.JAVA_BYTE, so + j, (byte) ls);
                dst.set(ValueLayout.JAVA_BYTE, so + j + 4, (byte) lm);
            } else {
                dst.set(ValueLayout.JAVA_BYTE, so + j + 4, (byte) ((ls & 0xF) | ((lm & 0xF) << 4)));
                orByte(dst, so + j - 4, (ls >> 4) << 6);
                orByte(dst, so + j, (lm >> 4) << 6);
            }
        }
        putF16(dst, blockOff, maxScale / 63.f);
        putF16(dst, blockOff + 2, maxMin / 63.f);
        float d = f16(dst, blockOff), dmin = f16(dst, blockOff + 2);
        for (int j = 0; j < 8; ++j) {
            float dd = d * scaleMinK4(dst, so, j, 0);
            if (dd == 0) continue;
            float dm = dmin * scaleMinK4(dst, so, j, 1);
            for (int ii = 0; ii < 32; ++ii) {
                int l = nearestInt((x[xo + 32 * j + ii] + dm) / dd);
                L[32 * j + ii] = (byte) Math.max(0, Math.min(nmax, l));
            }
        }
    }

    static void orByte(MemorySegment s, long off, int bits) {
        s.set(ValueLayout.JAVA_BYTE, off, (byte) (s.get(ValueLayout.JAVA_BYTE, off) | bits));
    }

    static int u8(MemorySegment s, long off) {
        return s.get(ValueLayout.JAVA_BYTE, off) & 0xFF;
    }

    /** Argument checks shared by dequantize/quantize: clear messages instead of index errors. */
    static void checkRange(GgmlType t, int n, long segBytes, long offset, int arrayLength, int arrayOff) {
        checkBlocks(t, n);
        long bytes = t.bytesFor(n);
        if (offset < 0 || offset + bytes > segBytes)
            throw new IllegalArgumentException(t + ": " + n + " values (" + bytes + " bytes) at byte " + offset
                    + " exceed the segment of " + segBytes + " bytes");
        if (arrayOff < 0 || (long) arrayOff + n > arrayLength)
            throw new IllegalArgumentException(t + ": " + n + " values at index " + arrayOff
                    + " exceed the float array of length " + arrayLength);
    }
}
