package io.moeflow.gguf;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;

/**
 * Reads little-endian GGUF primitives from a memory segment, checking before every read that the bytes are
 * there, so a damaged file ends in a {@link GgufException} naming what was being read, never an
 * IndexOutOfBoundsException or a giant allocation.
 */
final class GgufCursor {
    static final ValueLayout.OfInt U32 = ValueLayout.JAVA_INT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    static final ValueLayout.OfLong U64 = ValueLayout.JAVA_LONG_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    static final ValueLayout.OfShort U16 = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    static final ValueLayout.OfFloat F32 = ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    static final ValueLayout.OfDouble F64 = ValueLayout.JAVA_DOUBLE_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    /** Largest Java array the JVM reliably allocates. */
    static final int MAX_JAVA_ARRAY = Integer.MAX_VALUE - 8;

    private final MemorySegment seg;
    private final long size;
    private final String file;
    private long pos;

    GgufCursor(MemorySegment seg, String file) {
        this.seg = seg;
        this.size = seg.byteSize();
        this.file = file;
    }

    long position() { return pos; }

    long remaining() { return size - pos; }

    /** An error message prefixed with the file name. */
    GgufException error(String message) {
        return new GgufException(file + ": " + message);
    }

    /** Fails unless {@code n} more bytes are available for {@code what}. */
    void need(long n, String what) {
        if (n < 0 || n > size - pos)
            throw error("truncated file: " + what + " needs " + (n < 0 ? Long.toUnsignedString(n) : n) + " bytes at offset " + pos
                    + " but only " + (size - pos) + " remain");
    }

    byte i8(String what) {
        need(1, what);
        return seg.get(ValueLayout.JAVA_BYTE, pos++);
    }

    short i16(String what) {
        need(2, what);
        short v = seg.get(U16, pos);
        pos += 2;
        return v;
    }

    int i32(String what) {
        need(4, what);
        int v = seg.get(U32, pos);
        pos += 4;
        return v;
    }

    long i64(String what) {
        need(8, what);
        long v = seg.get(U64, pos);
        pos += 8;
        return v;
    }

    float f32(String what) {
        need(4, what);
        float v = seg.get(F32, pos);
        pos += 4;
        return v;
    }

    double f64(String what) {
        need(8, what);
        double v = seg.get(F64, pos);
        pos += 8;
        return v;
    }

    /** A GGUF string: u64 byte length, then that many UTF-8 bytes (malformed bytes become U+FFFD). */
    String string(String what) {
        long len = i64(what + " length");
        if (len < 0 || len > size - pos)
            throw error(what + ": string length " + Long.toUnsignedString(len) + " exceeds the " + (size - pos)
                    + " bytes left in the file at offset " + pos);
        if (len > MAX_JAVA_ARRAY) throw error(what + ": string length " + len + " is too large");
        byte[] b = new byte[(int) len];
        MemorySegment.copy(seg, ValueLayout.JAVA_BYTE, pos, b, 0, b.length);
        pos += len;
        return new String(b, StandardCharsets.UTF_8);
    }

    /** Copies {@code n} little-endian floats (the caller has checked they are there). */
    void floats(float[] dst) {
        need(4L * dst.length, "float array");
        MemorySegment.copy(seg, F32, pos, dst, 0, dst.length);
        pos += 4L * dst.length;
    }

    void doubles(double[] dst) {
        need(8L * dst.length, "float64 array");
        MemorySegment.copy(seg, F64, pos, dst, 0, dst.length);
        pos += 8L * dst.length;
    }
}
