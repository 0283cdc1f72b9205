package io.moeflow.kernels;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;
import java.nio.ByteOrder;
import jdk.incubator.vector.ByteVector;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorSpecies;

/**
 * The IQ and ternary formats, whose every weight is an int8 level times one float scale per 16 consecutive values
 * (the grid, sign, nibble-table or trit decoding is all in the level; ggml's scale arithmetic in the scale: every
 * one of these types scales groups of 16 or 32 values). A subclass {@link #unpack}s one block into levels and
 * scales, exactly: level * scale is ggml's dequantized float, bit for bit (every such product is exact in float, see
 * each format). The matrix kernels unpack a row once and then apply it to all vectors, 8 or 16 lanes at a time;
 * below 256-bit vectors the scalar kernel runs. The scalar kernel uses {@link #dequantize}, the literal port of
 * ggml's dequantize_row_*, so the two paths are checked against each other.
 */
abstract class Int8LevelFormat implements TensorFormat {
    static final ValueLayout.OfShort U16 = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    static final ValueLayout.OfInt U32 = ValueLayout.JAVA_INT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    /** Little-endian longs in a byte[]: eight levels stored with one write. */
    static final VarHandle LEVELS8 = MethodHandles.byteArrayViewVarHandle(long[].class, ByteOrder.LITTLE_ENDIAN);

    /** Values per scale. */
    static final int GROUP = 16;
    /**
     * Eight float lanes (256-bit vectors), also where 512 bits exist: measured on AVX-512, sixteen lanes gained ~10 %
     * for one vector and lost ~25 % for eight (twice the cache-line-split activation loads). Below 256 bits the
     * scalar kernel runs.
     */
    static final boolean VECTOR_OK = FloatVector.SPECIES_PREFERRED.vectorBitSize() >= 256;
    private static final int L = 8;
    private static final VectorSpecies<Float> F = FloatVector.SPECIES_256;
    /** L levels, widened lane for lane to L floats. */
    private static final VectorSpecies<Byte> B = ByteVector.SPECIES_64;

    /** Bytes 0x01 and 0x80 in every lane of a long (SWAR constants). */
    static final long ONES = 0x0101010101010101L, HIGHS = 0x8080808080808080L;

    private final GgmlType type;
    private final ThreadLocal<Scratch> scratch = ThreadLocal.withInitial(Scratch::new);

    /** One row's levels and scales; grown on demand, so steady-state calls allocate nothing. */
    private static final class Scratch {
        byte[] levels = new byte[0];
        float[] scales = new float[0];
        float[] row = new float[0];
    }

    Int8LevelFormat(GgmlType type) {
        this.type = type;
    }

    @Override public final GgmlType type() { return type; }

    /**
     * Writes the block at byte {@code o} as {@code type().blockSize} levels {@code q[qo ..]} and one scale per 16 of
     * them {@code sc[so ..]}, such that {@code q[qo + i] * sc[so + i / 16]} is the value ggml dequantizes.
     */
    abstract void unpack(MemorySegment s, long o, byte[] q, int qo, float[] sc, int so);

    @Override
    public void quantize(float[] src, int srcOff, int n, MemorySegment dst, long offset) {
        throw new UnsupportedOperationException(type + " has no reference quantizer without an importance matrix in ggml;"
                + " moeflow reads " + type + " files but cannot write them");
    }

    /** {@code sign[j] = kmask_iq2xs[j] & s ? 0xFF : 0} for the eight bytes of a long: ggml's sign bits as a byte mask. */
    static final long[] SIGN_MASKS = new long[256];

    static {
        int[] kmask = IQGrids.KmaskIq2xs.TABLE;
        for (int s = 0; s < 256; s++)
            for (int j = 0; j < 8; j++)
                if ((s & kmask[j]) != 0) SIGN_MASKS[s] |= 0xFFL << (8 * j);
    }

    /** SIGN_MASKS of the 8-bit sign pattern ksigns_iq2xs gives each 7-bit sign code. */
    static final long[] KSIGN_MASKS = new long[128];

    static {
        for (int i = 0; i < 128; i++) KSIGN_MASKS[i] = SIGN_MASKS[IQGrids.KsignsIq2xs.TABLE[i]];
    }

    static final ValueLayout.OfLong U64 = ValueLayout.JAVA_LONG_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);

    /**
     * Eight grid bytes (each 1..127) negated where {@code mask} has 0xFF: per byte {@code (g ^ m) + (m & 1)}, i.e.
     * {@code ~g + 1 = -g}; no byte carries into the next because no grid byte is 0.
     */
    static long signed(long grid, long mask) {
        return (grid ^ mask) + (mask & ONES);
    }

    static void putLevels(byte[] q, int qo, long eight) {
        LEVELS8.set(q, qo, eight);
    }

    static int u8(MemorySegment s, long o) {
        return s.get(ValueLayout.JAVA_BYTE, o) & 0xFF;
    }

    static int u16(MemorySegment s, long o) {
        return s.get(U16, o) & 0xFFFF;
    }

    static float f16(MemorySegment s, long o) {
        return Float.float16ToFloat(s.get(U16, o));
    }

    final void checkRange(MemorySegment seg, long offset, float[] values, int valuesOff, int n) {
        if (n < 0 || n % type.blockSize != 0)
            throw new IllegalArgumentException(type + ": " + n + " values is not a multiple of the block size " + type.blockSize);
        if (valuesOff < 0 || valuesOff + (long) n > values.length)
            throw new IllegalArgumentException(type + ": values [" + valuesOff + ", " + (valuesOff + (long) n) + ") outside an array of " + values.length);
        long bytes = type.bytesFor(n);
        if (offset < 0 || offset + bytes > seg.byteSize())
            throw new IllegalArgumentException(type + ": bytes [" + offset + ", " + (offset + bytes) + ") outside a segment of " + seg.byteSize());
    }

    final void checkMatmul(QMatrix w, int r0, int r1, float[] x, int xStride, int nVec, float[] out, int outStride) {
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

    /** Unpacks a row of {@code cols} values into {@code sc.levels} / {@code sc.scales} (a call per block, no vectors live). */
    private void unpackRow(MemorySegment s, long base, int cols, Scratch sc) {
        int bs = type.blockSize, ts = type.typeSize;
        if (sc.levels.length < cols) {
            sc.levels = new byte[cols];
            sc.scales = new float[cols / GROUP];
        }
        byte[] q = sc.levels;
        float[] scales = sc.scales;
        for (int b = 0, c = 0; c < cols; b++, c += bs) unpack(s, base + (long) b * ts, q, c, scales, c / GROUP);
    }

    @Override
    public final void matmul(QMatrix w, int r0, int r1, float[] x, int xStride, int nVec, float[] out, int outStride) {
        if (!VECTOR_OK) {
            matmulScalar(w, r0, r1, x, xStride, nVec, out, outStride);
            return;
        }
        checkMatmul(w, r0, r1, x, xStride, nVec, out, outStride);
        if (nVec == 0) return;
        MemorySegment s = w.data();
        int cols = w.cols();
        Scratch sc = scratch.get();
        for (int r = r0; r < r1; r++) {
            unpackRow(s, w.rowOffset(r), cols, sc);
            int v = 0;
            for (; v + 4 <= nVec; v += 4) dot4(sc.levels, sc.scales, cols, x, v * xStride, xStride, out, v * outStride + r, outStride);
            for (; v < nVec; v++) out[v * outStride + r] = dot1(sc.levels, sc.scales, cols, x, v * xStride);
        }
    }

    /** Exact weights {@code c .. c + L - 1}: their levels times their scale (a vector never straddles two scales). */
    private static FloatVector weights(byte[] q, float[] scales, int c) {
        return ((FloatVector) ByteVector.fromArray(B, q, c).convertShape(VectorOperators.B2F, F, 0)).mul(scales[c / GROUP]);
    }

    /** The unpacked row times the vector at {@code x[xo ..]}; {@code cols} is a multiple of 32. */
    private static float dot1(byte[] q, float[] scales, int cols, float[] x, int xo) {
        // Two accumulators: one FMA chain would be latency-bound.
        FloatVector a0 = FloatVector.zero(F), a1 = a0;
        for (int c = 0; c < cols; c += 2 * L) {
            a0 = weights(q, scales, c).fma(FloatVector.fromArray(F, x, xo + c), a0);
            a1 = weights(q, scales, c + L).fma(FloatVector.fromArray(F, x, xo + c + L), a1);
        }
        return sumLanes(a0.add(a1));
    }

    /** The unpacked row times the four vectors at {@code x[xo + k * xStride ..]}, each weight vector decoded once. */
    private static void dot4(byte[] q, float[] scales, int cols, float[] x, int xo, int xStride, float[] out, int oo, int outStride) {
        int x1 = xo + xStride, x2 = x1 + xStride, x3 = x2 + xStride;
        FloatVector a0 = FloatVector.zero(F), a1 = a0, a2 = a0, a3 = a0;
        for (int c = 0; c < cols; c += L) {
            FloatVector wv = weights(q, scales, c);
            a0 = wv.fma(FloatVector.fromArray(F, x, xo + c), a0);
            a1 = wv.fma(FloatVector.fromArray(F, x, x1 + c), a1);
            a2 = wv.fma(FloatVector.fromArray(F, x, x2 + c), a2);
            a3 = wv.fma(FloatVector.fromArray(F, x, x3 + c), a3);
        }
        out[oo] = sumLanes(a0);
        out[oo + outStride] = sumLanes(a1);
        out[oo + 2 * outStride] = sumLanes(a2);
        out[oo + 3 * outStride] = sumLanes(a3);
    }

    /** Lane sum in lane order (fixed, unlike reduceLanes(ADD)). */
    private static float sumLanes(FloatVector v) {
        float s = v.lane(0);
        for (int i = 1; i < L; i++) s += v.lane(i);
        return s;
    }

    /** Dequantizes each row once (by the literal port of ggml's code) and takes its dot product with every vector. */
    @Override
    public final void matmulScalar(QMatrix w, int r0, int r1, float[] x, int xStride, int nVec, float[] out, int outStride) {
        checkMatmul(w, r0, r1, x, xStride, nVec, out, outStride);
        if (nVec == 0) return;
        int cols = w.cols();
        Scratch sc = scratch.get();
        if (sc.row.length < cols) sc.row = new float[cols];
        float[] row = sc.row;
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
}
