package io.moeflow.kernels;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;
import java.nio.ByteOrder;
import jdk.incubator.vector.ByteVector;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.VectorMask;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorSpecies;

/**
 * The grid IQ formats (IQ3, IQ2, IQ1) and the ternary ones. Every weight is an int8 level times one float scale per
 * 16 consecutive values: the grid, sign and trit decoding goes into the level, ggml's scale arithmetic into the
 * scale (each of these types scales groups of 16 or 32 values). A subclass {@link #unpack}s a block into levels and
 * scales exactly: level * scale is ggml's dequantized float, bit for bit (each product is exact in float; see each
 * format). The matrix kernels unpack a row once and apply it to all vectors, 8 lanes at a time; for one vector
 * (decoding) a format may decode in registers instead ({@link #dotRow}: the IQ2/IQ3 types look their entries up in
 * byte copies of ggml's grids and flip the float sign bits). Below 256-bit vectors the scalar kernel runs; it uses
 * {@link #dequantize}, the literal port of ggml's dequantize_row_*, so the two paths check each other.
 */
abstract class Int8LevelFormat implements TensorFormat {
    static final ValueLayout.OfShort U16 = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    static final ValueLayout.OfInt U32 = ValueLayout.JAVA_INT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    static final ValueLayout.OfLong U64 = ValueLayout.JAVA_LONG_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    /** Little-endian longs in a byte[]: eight levels stored with one write. */
    static final VarHandle LEVELS8 = MethodHandles.byteArrayViewVarHandle(long[].class, ByteOrder.LITTLE_ENDIAN);

    /** Values per scale. */
    static final int GROUP = 16;
    /**
     * Eight float lanes (256-bit vectors), also where 512 bits exist: measured on AVX-512, sixteen lanes gained ~10 %
     * for one vector and lost ~25 % for eight (twice the cache-line-split activation loads).
     */
    static final boolean VECTOR_OK = Kernels.LANES >= 8;
    private static final int L = 8;
    private static final VectorSpecies<Float> F = FloatVector.SPECIES_256;
    /** L levels, widened lane for lane to L floats. */
    private static final VectorSpecies<Byte> B = ByteVector.SPECIES_64;
    private static final VectorSpecies<Integer> I = IntVector.SPECIES_256;
    /** Lanes 4..7: the second grid entry of a group in the formats whose entries hold four values. */
    private static final VectorMask<Byte> UPPER_HALF = VectorMask.fromLong(B, 0xF0);

    /** Bytes 0x01 and 0x80 in every lane of a long (SWAR constants). */
    static final long ONES = 0x0101010101010101L, HIGHS = 0x8080808080808080L;

    /** {@code byte j = kmask_iq2xs[j] & s ? 0xFF : 0}: ggml's eight sign bits of s as a byte mask. */
    static final long[] SIGN_MASKS = new long[256];
    /** SIGN_MASKS of the 8-bit sign pattern ksigns_iq2xs gives each 7-bit sign code. */
    static final long[] KSIGN_MASKS = new long[128];
    /** {@code 0x80000000} in int lane j where bit j of s is set: the eight sign bits of s for float lanes. */
    static final int[] SIGN_BITS = new int[256 * 8];
    /** SIGN_BITS of the sign pattern ksigns_iq2xs gives each 7-bit sign code. */
    static final int[] KSIGN_BITS = new int[128 * 8];

    static {
        int[] kmask = IQGrids.KmaskIq2xs.TABLE, ksigns = IQGrids.KsignsIq2xs.TABLE;
        for (int s = 0; s < 256; s++)
            for (int j = 0; j < 8; j++)
                if ((s & kmask[j]) != 0) {
                    SIGN_MASKS[s] |= 0xFFL << (8 * j);
                    SIGN_BITS[8 * s + j] = 0x80000000;
                }
        for (int c = 0; c < 128; c++) {
            KSIGN_MASKS[c] = SIGN_MASKS[ksigns[c]];
            System.arraycopy(SIGN_BITS, 8 * ksigns[c], KSIGN_BITS, 8 * c, 8);
        }
    }

    private final GgmlType type;
    private final ThreadLocal<Scratch> scratch = ThreadLocal.withInitial(Scratch::new);

    /** One row's levels and scales; grown on demand, so steady-state calls allocate nothing. */
    static final class Scratch {
        byte[] levels = new byte[0];
        float[] scales = new float[0];
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
    public boolean quantizes() {
        return false;
    }

    @Override
    public void quantize(float[] src, int srcOff, int n, MemorySegment dst, long offset) {
        throw new UnsupportedOperationException(type + " has no reference quantizer without an importance matrix in ggml;"
                + " moeflow reads " + type + " files but cannot write them");
    }

    /** The eight bytes of each grid entry in memory order (ggml reads its uint64 entries as bytes). */
    static byte[] entryBytes(long[] grid) {
        byte[] b = new byte[8 * grid.length];
        for (int i = 0; i < grid.length; i++) LEVELS8.set(b, 8 * i, grid[i]);
        return b;
    }

    /** The four bytes of each uint32 grid entry, after and followed by four bytes of padding (see {@link #grid4x2}). */
    static byte[] entryBytes(int[] grid) {
        byte[] b = new byte[4 * grid.length + 8];
        for (int i = 0; i < grid.length; i++)
            for (int j = 0; j < 4; j++) b[4 + 4 * i + j] = (byte) (grid[i] >>> 8 * j);
        return b;
    }

    /** Grid entry {@code e} of {@code entryBytes(long[])} as eight floats, negated where {@code signBits[so ..]} says. */
    static FloatVector grid8(byte[] grid, int e, int[] signBits, int so) {
        FloatVector g = (FloatVector) ByteVector.fromArray(B, grid, 8 * e).convertShape(VectorOperators.B2F, F, 0);
        return g.reinterpretAsInts().lanewise(VectorOperators.XOR, IntVector.fromArray(I, signBits, so)).reinterpretAsFloats();
    }

    /** Entries {@code e1} (lanes 0..3) and {@code e2} (4..7) of {@code entryBytes(int[])} as floats, signed as grid8. */
    static FloatVector grid4x2(byte[] grid, int e1, int e2, int[] signBits, int so) {
        ByteVector both = ByteVector.fromArray(B, grid, 4 + 4 * e1).blend(ByteVector.fromArray(B, grid, 4 * e2), UPPER_HALF);
        FloatVector g = (FloatVector) both.convertShape(VectorOperators.B2F, F, 0);
        return g.reinterpretAsInts().lanewise(VectorOperators.XOR, IntVector.fromArray(I, signBits, so)).reinterpretAsFloats();
    }

    static FloatVector zero() {
        return FloatVector.zero(F);
    }

    /** Activations {@code x[c .. c + 7]}. */
    static FloatVector x8(float[] x, int c) {
        return FloatVector.fromArray(F, x, c);
    }

    /**
     * One row (at {@code base}, {@code cols} values) times the vector at {@code x[xo ..]}: here by unpacking it into
     * {@code sc}; formats with a faster decode in registers override this.
     */
    float dotRow(MemorySegment s, long base, int cols, float[] x, int xo, Scratch sc) {
        unpackRow(s, base, cols, sc);
        return dot1(sc.levels, sc.scales, cols, x, xo);
    }

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
        BlockFormat.checkRange(type, seg, offset, values, valuesOff, n);
    }

    final void checkMatmul(QMatrix w, int r0, int r1, float[] x, int xStride, int nVec, float[] out, int outStride) {
        BlockFormat.checkMatmul(type, w, r0, r1, x, xStride, nVec, out, outStride);
    }

    /** Unpacks a row of {@code cols} values into {@code sc.levels} / {@code sc.scales} (a call per block, no vectors live). */
    final void unpackRow(MemorySegment s, long base, int cols, Scratch sc) {
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
        if (nVec == 1) {
            for (int r = r0; r < r1; r++) out[r] = dotRow(s, w.rowOffset(r), cols, x, 0, sc);
            return;
        }
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
        return VectorMath.sum(a0.add(a1));
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
        out[oo] = VectorMath.sum(a0);
        out[oo + outStride] = VectorMath.sum(a1);
        out[oo + 2 * outStride] = VectorMath.sum(a2);
        out[oo + 3 * outStride] = VectorMath.sum(a3);
    }

    /** Dequantizes each row once (by the literal port of ggml's code) and takes its dot product with every vector. */
    @Override
    public final void matmulScalar(QMatrix w, int r0, int r1, float[] x, int xStride, int nVec, float[] out, int outStride) {
        checkMatmul(w, r0, r1, x, xStride, nVec, out, outStride);
        KQuants.matmulScalarViaRow(this, w, r0, r1, x, xStride, nVec, out, outStride);
    }
}
