package io.moeflow.kernels;

import java.lang.foreign.MemorySegment;
import jdk.incubator.vector.ByteVector;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.VectorOperators;

/**
 * The vector kernels of Q5_0 and Q5_1: 32 values a block, an f16 scale d at byte 0, then (Q5_1 only) an f16
 * minimum m, a 32-bit little-endian word qh whose bit j is the fifth bit of value j, and 16 bytes of low nibbles
 * (byte j: value j low, value j + 16 high). Q5_0 offsets q by -16. Weights are dequantized in registers as
 * fma(q, d, m) with m = -16d for Q5_0: one rounding of an exact q * d + m, so bit-equal to ggml.
 */
abstract class Q5Family extends BlockFormat {
    static final int QK = 32;
    private final int blockBytes;
    private final int qhOffset;
    private final boolean hasMin;

    Q5Family(GgmlType type, boolean hasMin) {
        super(type);
        this.blockBytes = type.typeSize;
        this.hasMin = hasMin;
        this.qhOffset = hasMin ? 4 : 2;
    }

    // Fifth bits: value j (< 16) takes bit j of qh, moved to bit 4 as ((qh << 4) >>> j) & 0x10; value j + 16 takes
    // bit j + 16 as (qh >>> (j + 12)) & 0x10 (ggml's formulas), with j = p + lane from the IOTA shift counts.
    @Override
    final float dot1(MemorySegment seg, long base, int cols, float[] x, int xo) {
        int bytes = blockBytes, qhOff = qhOffset;
        boolean minStored = hasMin;
        // Low and high halves in separate accumulators: two short FMA chains instead of one long one.
        FloatVector accLo = FloatVector.zero(F), accHi = accLo;
        long o = base;
        for (int c = xo; c < xo + cols; c += QK, o += bytes) {
            float d = Float.float16ToFloat(seg.get(I16, o));
            FloatVector dv = FloatVector.broadcast(F, d);
            FloatVector mv = FloatVector.broadcast(F, minStored ? Float.float16ToFloat(seg.get(I16, o + 2)) : -16 * d);
            int qh = seg.get(I32, o + qhOff);
            IntVector hLo = IntVector.broadcast(I, qh << 4), hHi = IntVector.broadcast(I, qh);
            for (int p0 = 0; p0 < QK / 2; p0 += STEP) {
                ByteVector qb = ByteVector.fromMemorySegment(B, seg, o + qhOff + 4 + p0, LE);
                for (int k = 0; k < PARTS; k++) {
                    int p = p0 + k * L;
                    IntVector q = (IntVector) qb.convertShape(VectorOperators.B2I, I, k);
                    IntVector qLo = q.and(0xF).or(hLo.lanewise(VectorOperators.LSHR, IntVector.fromArray(I, IOTA, p)).and(0x10));
                    IntVector qHi = q.lanewise(VectorOperators.ASHR, 4).and(0xF).or(hHi.lanewise(VectorOperators.LSHR, IntVector.fromArray(I, IOTA, p + 12)).and(0x10));
                    FloatVector lo = ((FloatVector) qLo.convert(VectorOperators.I2F, 0)).fma(dv, mv);
                    FloatVector hi = ((FloatVector) qHi.convert(VectorOperators.I2F, 0)).fma(dv, mv);
                    accLo = lo.fma(FloatVector.fromArray(F, x, c + p), accLo);
                    accHi = hi.fma(FloatVector.fromArray(F, x, c + QK / 2 + p), accHi);
                }
            }
        }
        return VectorMath.sum(accLo.add(accHi));
    }

    @Override
    final void dot4(MemorySegment seg, long base, int cols, float[] x, int xo, int xStride, float[] out, int oo, int outStride) {
        int bytes = blockBytes, qhOff = qhOffset;
        boolean minStored = hasMin;
        int x1 = xStride, x2 = 2 * xStride, x3 = 3 * xStride;
        FloatVector a0 = FloatVector.zero(F), a1 = a0, a2 = a0, a3 = a0;
        long o = base;
        for (int c = xo; c < xo + cols; c += QK, o += bytes) {
            float d = Float.float16ToFloat(seg.get(I16, o));
            FloatVector dv = FloatVector.broadcast(F, d);
            FloatVector mv = FloatVector.broadcast(F, minStored ? Float.float16ToFloat(seg.get(I16, o + 2)) : -16 * d);
            int qh = seg.get(I32, o + qhOff);
            IntVector hLo = IntVector.broadcast(I, qh << 4), hHi = IntVector.broadcast(I, qh);
            for (int p0 = 0; p0 < QK / 2; p0 += STEP) {
                ByteVector qb = ByteVector.fromMemorySegment(B, seg, o + qhOff + 4 + p0, LE);
                for (int k = 0; k < PARTS; k++) {
                    int p = p0 + k * L;
                    IntVector q = (IntVector) qb.convertShape(VectorOperators.B2I, I, k);
                    IntVector qLo = q.and(0xF).or(hLo.lanewise(VectorOperators.LSHR, IntVector.fromArray(I, IOTA, p)).and(0x10));
                    IntVector qHi = q.lanewise(VectorOperators.ASHR, 4).and(0xF).or(hHi.lanewise(VectorOperators.LSHR, IntVector.fromArray(I, IOTA, p + 12)).and(0x10));
                    FloatVector lo = ((FloatVector) qLo.convert(VectorOperators.I2F, 0)).fma(dv, mv);
                    FloatVector hi = ((FloatVector) qHi.convert(VectorOperators.I2F, 0)).fma(dv, mv);
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
