package io.moeflow.kernels;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import jdk.incubator.vector.ByteVector;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.VectorOperators;

/**
 * MXFP4 (ggml block_mxfp4): per 32 values one E8M0 exponent byte e and 16 bytes of E2M1 codes (byte j: value j
 * low nibble, value j + 16 high nibble); value = kvalues_mxfp4[code] * 2^(e - 128). ggml's table holds the E2M1
 * values doubled (0, 1, 2, 3, 4, 6, 8, 12, then negated), so its scale (GGML_E8M0_TO_FP32_HALF) is half of 2^(e - 127).
 * 17 bytes.
 */
final class MXFP4Format extends BlockFormat {
    private static final int QK = 32;
    private static final int BYTES = 17;
    static final int[] KVALUES = {0, 1, 2, 3, 4, 6, 8, 12, 0, -1, -2, -3, -4, -6, -8, -12};
    /**
     * The magnitudes of KVALUES[0..7] as float bits, padded to 32 entries (t0 and t1 of up to 16 lanes each):
     * code c is the magnitude of c & 7 with the sign bit c & 8 (so code 8 decodes to -0, which adds nothing).
     */
    private static final int[] MAGNITUDE_BITS = new int[32];

    static {
        for (int i = 0; i < 8; i++) MAGNITUDE_BITS[i] = Float.floatToRawIntBits(KVALUES[i]);
    }

    /** The float bits of the codes in {@code q}'s lanes (0..15): a lane permute over the magnitudes, the sign or-ed in. */
    private static FloatVector decodeCodes(IntVector q, IntVector t0, IntVector t1) {
        IntVector idx = q.and(7);
        IntVector mag = L >= 8 ? idx.selectFrom(t0) : idx.selectFrom(t0, t1);
        return mag.or(q.and(8).lanewise(VectorOperators.LSHL, 28)).reinterpretAsFloats();
    }

    MXFP4Format() { super(GgmlType.MXFP4); }

    /** ggml_e8m0_to_fp32_half: 2^(e - 128), with e = 0 and 1 as the subnormals 2^-128 and 2^-127. */
    static float e8m0Half(int e) {
        return Float.intBitsToFloat(e < 2 ? 0x00200000 << e : (e - 1) << 23);
    }

    @Override
    public void dequantize(MemorySegment src, long offset, float[] dst, int dstOff, int n) {
        checkRange(src, offset, dst, dstOff, n);
        for (int b = 0; b < n / QK; b++) {
            long o = offset + (long) b * BYTES;
            int y = dstOff + b * QK;
            float d = e8m0Half(src.get(ValueLayout.JAVA_BYTE, o) & 0xFF);
            for (int j = 0; j < QK / 2; j++) {
                int q = src.get(ValueLayout.JAVA_BYTE, o + 1 + j) & 0xFF;
                dst[y + j] = KVALUES[q & 0x0F] * d;
                dst[y + j + QK / 2] = KVALUES[q >>> 4] * d;
            }
        }
    }

    /**
     * quantize_row_mxfp4_ref: e = floor(log2f(amax)) - 2 + 127 (0 for an all-zero block), each value the nearest
     * table entry times the scale, the lower index on ties.
     */
    @Override
    public void quantize(float[] src, int srcOff, int n, MemorySegment dst, long offset) {
        checkRange(dst, offset, src, srcOff, n);
        for (int b = 0; b < n / QK; b++) {
            int s = srcOff + b * QK;
            long o = offset + (long) b * BYTES;
            float amax = 0f;
            for (int j = 0; j < QK; j++) if (amax < Math.abs(src[s + j])) amax = Math.abs(src[s + j]);
            // log2f rounded to float before the floor, as in C: just below a power of two it rounds up to the integer.
            int e = amax > 0f ? (int) ((float) Math.floor(log2f(amax)) - 2 + 127) & 0xFF : 0;
            float d = e8m0Half(e);
            dst.set(ValueLayout.JAVA_BYTE, o, (byte) e);
            for (int j = 0; j < QK / 2; j++) {
                int q0 = bestIndex(src[s + j], d), q1 = bestIndex(src[s + QK / 2 + j], d);
                dst.set(ValueLayout.JAVA_BYTE, o + 1 + j, (byte) (q0 | q1 << 4));
            }
        }
    }

    private static float log2f(float v) {
        return (float) (Math.log(v) / Math.log(2.0));
    }

    private static int bestIndex(float v, float d) {
        int best = 0;
        float bestErr = Math.abs(KVALUES[0] * d - v);
        for (int i = 1; i < 16; i++) {
            float err = Math.abs(KVALUES[i] * d - v);
            if (err < bestErr) {
                best = i;
                bestErr = err;
            }
        }
        return best;
    }

    // Codes are looked up with a lane permute (decodeCodes); table value * scale is exact, as in ggml.
    @Override
    float dot1(MemorySegment seg, long base, int cols, float[] x, int xo) {
        IntVector t0 = IntVector.fromArray(I, MAGNITUDE_BITS, 0), t1 = IntVector.fromArray(I, MAGNITUDE_BITS, L);
        // Low and high halves in separate accumulators: two short FMA chains instead of one long one.
        FloatVector accLo = FloatVector.zero(F), accHi = accLo;
        long o = base;
        for (int c = xo; c < xo + cols; c += QK, o += BYTES) {
            float d = e8m0Half(seg.get(ValueLayout.JAVA_BYTE, o) & 0xFF);
            for (int p0 = 0; p0 < QK / 2; p0 += STEP) {
                ByteVector qb = ByteVector.fromMemorySegment(B, seg, o + 1 + p0, LE);
                for (int k = 0; k < PARTS; k++) {
                    int p = p0 + k * L;
                    IntVector q = (IntVector) qb.convertShape(VectorOperators.ZERO_EXTEND_B2I, I, k);
                    FloatVector lo = decodeCodes(q, t0, t1).mul(d);
                    FloatVector hi = decodeCodes(q.lanewise(VectorOperators.LSHR, 4), t0, t1).mul(d);
                    accLo = lo.fma(FloatVector.fromArray(F, x, c + p), accLo);
                    accHi = hi.fma(FloatVector.fromArray(F, x, c + QK / 2 + p), accHi);
                }
            }
        }
        return VectorMath.sum(accLo.add(accHi));
    }

    @Override
    void dot4(MemorySegment seg, long base, int cols, float[] x, int xo, int xStride, float[] out, int oo, int outStride) {
        IntVector t0 = IntVector.fromArray(I, MAGNITUDE_BITS, 0), t1 = IntVector.fromArray(I, MAGNITUDE_BITS, L);
        int x1 = xStride, x2 = 2 * xStride, x3 = 3 * xStride;
        FloatVector a0 = FloatVector.zero(F), a1 = a0, a2 = a0, a3 = a0;
        long o = base;
        for (int c = xo; c < xo + cols; c += QK, o += BYTES) {
            float d = e8m0Half(seg.get(ValueLayout.JAVA_BYTE, o) & 0xFF);
            for (int p0 = 0; p0 < QK / 2; p0 += STEP) {
                ByteVector qb = ByteVector.fromMemorySegment(B, seg, o + 1 + p0, LE);
                for (int k = 0; k < PARTS; k++) {
                    int p = p0 + k * L;
                    IntVector q = (IntVector) qb.convertShape(VectorOperators.ZERO_EXTEND_B2I, I, k);
                    FloatVector lo = decodeCodes(q, t0, t1).mul(d);
                    FloatVector hi = decodeCodes(q.lanewise(VectorOperators.LSHR, 4), t0, t1).mul(d);
                    int cl = c + p, ch = cl + QK / 2;
                    a0 = hi.fma(FloatVector.fromArray(F, x, ch), lo.fma(FloatVector.fromArray(F, x, cl), a0));
                    a1 = hi.fma(FloatVector.fromArray(F, x, x1 + ch), lo.fma(FloatVector.fromArray(F, x, x1 + cl), a1));
                    a2 = hi.fma(FloatVector.fromArray(F, x, x2 + ch), lo.fma(FloatVector.fromArray(F, x, x2 + cl), a2));
                    a3 = hi.fma(FloatVector.fromArray(F, x, x3 + ch), lo.fma(FloatVector.fromArray(F, x, x3 + cl), a3));
                }
            }
        }
        store4(out, oo, outStride, a0, a1, a2, a3);
    }
}
