package io.moeflow.kernels;

import java.lang.foreign.MemorySegment;
import jdk.incubator.vector.ByteVector;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.VectorOperators;

/**
 * The vector kernels of Q4_0 and Q4_1: 32 values a block, an f16 scale d at byte 0, 16 bytes of nibbles at
 * {@code qsOffset} (byte j: value j low, value j + 16 high). Q4_0 stores no minimum and offsets q by -8; Q4_1 stores
 * an f16 minimum m at byte 2. Weights are dequantized in registers as fma(q, d, m) with m = -8d for Q4_0: one rounding
 * of the exact q * d + m, so bit-equal to ggml's (q - 8) * d and q * d + m (q * d is exact in float).
 */
abstract class Q4Family extends BlockFormat {
    static final int QK = 32;
    private final int blockBytes;
    private final int qsOffset;
    private final boolean hasMin;

    Q4Family(GgmlType type, boolean hasMin) {
        super(type);
        this.blockBytes = type.typeSize;
        this.hasMin = hasMin;
        this.qsOffset = hasMin ? 4 : 2;
    }

    @Override
    final float dot1(MemorySegment seg, long base, int cols, float[] x, int xo) {
        int bytes = blockBytes, qs = qsOffset;
        boolean minStored = hasMin;
        // Low and high halves in separate accumulators: two short FMA chains instead of one long one.
        FloatVector accLo = FloatVector.zero(F), accHi = accLo;
        long o = base;
        for (int c = xo; c < xo + cols; c += QK, o += bytes) {
            float d = Float.float16ToFloat(seg.get(I16, o));
            FloatVector dv = FloatVector.broadcast(F, d);
            FloatVector mv = FloatVector.broadcast(F, minStored ? Float.float16ToFloat(seg.get(I16, o + 2)) : -8 * d);
            for (int p0 = 0; p0 < QK / 2; p0 += STEP) {
                ByteVector qb = ByteVector.fromMemorySegment(B, seg, o + qs + p0, LE);
                for (int k = 0; k < PARTS; k++) {
                    int p = p0 + k * L;
                    IntVector q = (IntVector) qb.convertShape(VectorOperators.ZERO_EXTEND_B2I, I, k);
                    FloatVector lo = ((FloatVector) q.and(0xF).convert(VectorOperators.I2F, 0)).fma(dv, mv);
                    FloatVector hi = ((FloatVector) q.lanewise(VectorOperators.LSHR, 4).convert(VectorOperators.I2F, 0)).fma(dv, mv);
                    accLo = lo.fma(FloatVector.fromArray(F, x, c + p), accLo);
                    accHi = hi.fma(FloatVector.fromArray(F, x, c + QK / 2 + p), accHi);
                }
            }
        }
        return VectorMath.sum(accLo.add(accHi));
    }

    @Override
    final void dot4(MemorySegment seg, long base, int cols, float[] x, int xo, int xStride, float[] out, int oo, int outStride) {
        int bytes = blockBytes, qs = qsOffset;
        boolean minStored = hasMin;
        int x1 = xStride, x2 = 2 * xStride, x3 = 3 * xStride;
        FloatVector a0 = FloatVector.zero(F), a1 = a0, a2 = a0, a3 = a0;
        long o = base;
        for (int c = xo; c < xo + cols; c += QK, o += bytes) {
            float d = Float.float16ToFloat(seg.get(I16, o));
            FloatVector dv = FloatVector.broadcast(F, d);
            FloatVector mv = FloatVector.broadcast(F, minStored ? Float.float16ToFloat(seg.get(I16, o + 2)) : -8 * d);
            for (int p0 = 0; p0 < QK / 2; p0 += STEP) {
                ByteVector qb = ByteVector.fromMemorySegment(B, seg, o + qs + p0, LE);
                for (int k = 0; k < PARTS; k++) {
                    IntVector q = (IntVector) qb.convertShape(VectorOperators.ZERO_EXTEND_B2I, I, k);
                    FloatVector lo = ((FloatVector) q.and(0xF).convert(VectorOperators.I2F, 0)).fma(dv, mv);
                    FloatVector hi = ((FloatVector) q.lanewise(VectorOperators.LSHR, 4).convert(VectorOperators.I2F, 0)).fma(dv, mv);
                    int cl = c + p0 + k * L, ch = cl + QK / 2;
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
