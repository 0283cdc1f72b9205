package io.moeflow.kernels;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorShape;
import jdk.incubator.vector.VectorSpecies;

/**
 * What the block formats share: argument checks, the row/vector loops of the matrix kernels and a scalar kernel
 * built on {@link #dequantize}. A subclass supplies the two hot inner kernels, one applying a row to four vectors
 * and one to a single vector; each is one compact method so C2 keeps its vectors in registers (calling out of the
 * hot loop would box them). Per call the base class costs one virtual call per row and vector group, nothing per block.
 */
abstract class BlockFormat implements TensorFormat {
    static final ValueLayout.OfShort I16 = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    static final ValueLayout.OfInt I32 = ValueLayout.JAVA_INT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    static final ByteOrder LE = ByteOrder.LITTLE_ENDIAN;

    /** Float lanes per vector: the preferred width, capped at 16 so a 32-value block is a whole number of vectors. */
    static final int L = Math.min(16, Kernels.LANES);
    static final VectorSpecies<Float> F = FloatVector.SPECIES_PREFERRED.length() == L
            ? FloatVector.SPECIES_PREFERRED : FloatVector.SPECIES_512;
    static final VectorSpecies<Integer> I = IntVector.SPECIES_PREFERRED.length() == L
            ? IntVector.SPECIES_PREFERRED : IntVector.SPECIES_512;
    /**
     * Quant bytes per vector load: one per float lane, but at least 8 (the narrowest byte vector), so on 128-bit
     * machines one 8-byte load is widened in {@link #PARTS} = 2 parts of 4 lanes (vpmovsxbd / sxtl per part).
     */
    static final int STEP = Math.max(L, 8);
    static final int PARTS = STEP / L;
    /** STEP bytes, or L shorts: loaded, then widened lane for lane to ints or floats (vpmovsxbd / vpmovsxwd). */
    static final VectorSpecies<Byte> B = L >= 4 ? VectorSpecies.of(byte.class, VectorShape.forBitSize(STEP * 8)) : null;
    static final VectorSpecies<Short> S = L >= 4 ? VectorSpecies.of(short.class, VectorShape.forBitSize(L * 16)) : null;
    /** The vector kernels need 4, 8 or 16 lanes (128-bit, AVX2, AVX-512); other widths take the scalar kernel. */
    static final boolean VECTOR_SHAPES_OK = L == 4 || L == 8 || L == 16;

    /** Vectors per register block in {@link #dot4}. */
    static final int VB = 4;

    private final GgmlType type;
    /** Per-thread row buffer of the scalar kernel; fetched once per call. */
    private final ThreadLocal<float[]> rowBuffer = ThreadLocal.withInitial(() -> new float[0]);
    /** Per-thread copy of 2 or 3 vectors padded to four. */
    private final ThreadLocal<float[]> padBuffer = ThreadLocal.withInitial(() -> new float[0]);

    BlockFormat(GgmlType type) {
        this.type = type;
    }

    @Override public final GgmlType type() { return type; }

    /**
     * Applies row bytes from {@code base} ({@code cols} values) to the 4 vectors at {@code x[xo + k*xStride]},
     * writing {@code out[oo + k*outStride]} for k = 0..3.
     */
    abstract void dot4(MemorySegment seg, long base, int cols, float[] x, int xo, int xStride, float[] out, int oo, int outStride);

    /** Applies row bytes from {@code base} to the one vector at {@code x[xo]}, returning the dot product. */
    abstract float dot1(MemorySegment seg, long base, int cols, float[] x, int xo);

    /**
     * Applies row bytes from {@code base} to the 2 vectors at {@code x[xo]} and {@code x[xo + xStride]}; only called
     * where {@link #hasDot2} (formats without it pad two vectors to four).
     */
    void dot2(MemorySegment seg, long base, int cols, float[] x, int xo, int xStride, float[] out, int oo, int outStride) {
        throw new UnsupportedOperationException(type + " has no two-vector kernel");
    }

    /**
     * True where this format's vector kernels work at the machine's width; formats whose loads and table lookups
     * are written for 8 or more lanes override it (the scalar kernel runs below that).
     */
    boolean vectorShapesOk() {
        return VECTOR_SHAPES_OK;
    }

    /** True where {@link #dot2} is implemented. */
    boolean hasDot2() {
        return false;
    }

    @Override
    public final void matmul(QMatrix w, int r0, int r1, float[] x, int xStride, int nVec, float[] out, int outStride) {
        if (!vectorShapesOk()) {
            matmulScalar(w, r0, r1, x, xStride, nVec, out, outStride);
            return;
        }
        checkMatmul(w, r0, r1, x, xStride, nVec, out, outStride);
        MemorySegment seg = w.data();
        int cols = w.cols();
        if (nVec == 2 && hasDot2()) {
            for (int r = r0; r < r1; r++) dot2(seg, w.rowOffset(r), cols, x, 0, xStride, out, r, outStride);
            return;
        }
        if (nVec == 2 || nVec == 3) {
            // Small expert groups: pad to four vectors so each weight block is decoded once, not once per vector.
            float[] xs = padBuffer.get();
            int o4 = VB * cols; // the four results follow the four vectors
            if (xs.length < o4 + VB) padBuffer.set(xs = new float[o4 + VB]);
            for (int v = 0; v < VB; v++)
                if (v < nVec) System.arraycopy(x, v * xStride, xs, v * cols, cols);
                else java.util.Arrays.fill(xs, v * cols, (v + 1) * cols, 0f);
            for (int r = r0; r < r1; r++) {
                dot4(seg, w.rowOffset(r), cols, xs, 0, cols, xs, o4, 1);
                for (int v = 0; v < nVec; v++) out[v * outStride + r] = xs[o4 + v];
            }
            return;
        }
        int full = nVec / VB * VB, rem = nVec - full;
        for (int r = r0; r < r1; r++) {
            long base = w.rowOffset(r);
            for (int v = 0; v < full; v += VB) dot4(seg, base, cols, x, v * xStride, xStride, out, v * outStride + r, outStride);
            if (rem == 1) out[full * outStride + r] = dot1(seg, base, cols, x, full * xStride);
            else if (rem > 1) {
                // The last four vectors again (overlapping ones get the same values): one decode for the tail.
                int v = nVec - VB;
                dot4(seg, base, cols, x, v * xStride, xStride, out, v * outStride + r, outStride);
            }
        }
    }

    /** Dequantizes each row once (exactly, by {@link #dequantize}) and takes its dot product with every vector. */
    @Override
    public final void matmulScalar(QMatrix w, int r0, int r1, float[] x, int xStride, int nVec, float[] out, int outStride) {
        checkMatmul(w, r0, r1, x, xStride, nVec, out, outStride);
        int cols = w.cols();
        float[] row = rowBuffer.get();
        if (row.length < cols) rowBuffer.set(row = new float[cols]);
        for (int r = r0; r < r1; r++) {
            dequantize(w.data(), w.rowOffset(r), row, 0, cols);
            for (int v = 0; v < nVec; v++) {
                int xo = v * xStride;
                float s = 0f;
                for (int c = 0; c < cols; c++) s += row[c] * x[xo + c];
                out[v * outStride + r] = s;
            }
        }
    }

    final void checkMatmul(QMatrix w, int r0, int r1, float[] x, int xStride, int nVec, float[] out, int outStride) {
        checkMatmul(type, w, r0, r1, x, xStride, nVec, out, outStride);
    }

    /** The argument checks of {@link TensorFormat#matmul} for a kernel of {@code type} (shared by every format family). */
    static void checkMatmul(GgmlType type, QMatrix w, int r0, int r1, float[] x, int xStride, int nVec, float[] out, int outStride) {
        if (w.type() != type) throw new IllegalArgumentException("matrix of type " + w.type() + " given to the " + type + " kernel");
        if (r0 < 0 || r1 > w.rows() || r0 > r1)
            throw new IllegalArgumentException("rows [" + r0 + ", " + r1 + ") outside the matrix's " + w.rows() + " rows");
        if (nVec < 0) throw new IllegalArgumentException("nVec must be >= 0, got " + nVec);
        if (nVec == 0 || r0 == r1) return;
        if (xStride < w.cols())
            throw new IllegalArgumentException("xStride " + xStride + " is less than the row length " + w.cols());
        if (outStride < w.rows())
            throw new IllegalArgumentException("outStride " + outStride + " is less than the row count " + w.rows());
        if ((long) (nVec - 1) * xStride + w.cols() > x.length)
            throw new IllegalArgumentException("x holds " + x.length + " floats, " + nVec + " vectors of " + w.cols() + " at stride " + xStride + " need more");
        if ((long) (nVec - 1) * outStride + r1 > out.length)
            throw new IllegalArgumentException("out holds " + out.length + " floats, " + nVec + " results up to row " + r1 + " at stride " + outStride + " need more");
    }

    /** Checks a (de)quantization range: whole blocks, inside the array and the segment. */
    final void checkRange(MemorySegment seg, long offset, float[] values, int valuesOff, int n) {
        checkRange(type, seg, offset, values, valuesOff, n);
    }

    static void checkRange(GgmlType type, MemorySegment seg, long offset, float[] values, int valuesOff, int n) {
        if (n < 0 || n % type.blockSize != 0)
            throw new IllegalArgumentException(type + ": " + n + " values is not a multiple of the block size " + type.blockSize);
        if (valuesOff < 0 || valuesOff + (long) n > values.length)
            throw new IllegalArgumentException(type + ": values [" + valuesOff + ", " + (valuesOff + (long) n) + ") outside an array of " + values.length);
        long bytes = type.bytesFor(n);
        if (offset < 0 || offset + bytes > seg.byteSize())
            throw new IllegalArgumentException(type + ": bytes [" + offset + ", " + (offset + bytes) + ") outside a segment of " + seg.byteSize());
    }

    /** Writes the lane sums of four accumulators (once per row and vector group, so out of the hot loop). */
    static void store4(float[] out, int oo, int outStride, FloatVector a0, FloatVector a1, FloatVector a2, FloatVector a3) {
        out[oo] = VectorMath.sum(a0);
        out[oo + outStride] = VectorMath.sum(a1);
        out[oo + 2 * outStride] = VectorMath.sum(a2);
        out[oo + 3 * outStride] = VectorMath.sum(a3);
    }

    static float f16(MemorySegment seg, long offset) {
        return Float.float16ToFloat(seg.get(I16, offset));
    }

    static void putF16(MemorySegment seg, long offset, float v) {
        seg.set(I16, offset, Float.floatToFloat16(v));
    }

    /** C's roundf: halfway cases away from zero (Math.round rounds them up). Exact for floats, done in double. */
    static float roundf(float v) {
        return (float) Math.copySign(Math.floor(Math.abs((double) v) + 0.5), v);
    }

    /** Lane indices 0, 1, ... as ints, for variable shifts. */
    static final int[] IOTA = new int[32];

    static {
        for (int i = 0; i < IOTA.length; i++) IOTA[i] = i;
    }
}
