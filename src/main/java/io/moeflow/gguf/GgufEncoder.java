package io.moeflow.gguf;

import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;

/** Little-endian GGUF encoding of primitives and metadata values into a growing byte buffer. */
final class GgufEncoder {
    private final ByteArrayOutputStream out = new ByteArrayOutputStream();

    GgufEncoder raw(byte[] b) {
        out.writeBytes(b);
        return this;
    }

    GgufEncoder u8(int v) {
        out.write(v);
        return this;
    }

    GgufEncoder u16(int v) {
        return u8(v).u8(v >>> 8);
    }

    GgufEncoder u32(int v) {
        return u16(v).u16(v >>> 16);
    }

    GgufEncoder u64(long v) {
        return u32((int) v).u32((int) (v >>> 32));
    }

    GgufEncoder f32(float v) {
        return u32(Float.floatToRawIntBits(v));
    }

    GgufEncoder f64(double v) {
        return u64(Double.doubleToRawLongBits(v));
    }

    /** u64 byte length, then the UTF-8 bytes. */
    GgufEncoder str(String s) {
        byte[] b = s.getBytes(StandardCharsets.UTF_8);
        return u64(b.length).raw(b);
    }

    /** A value without its type id (the caller writes that). */
    GgufEncoder value(GgufValue v) {
        return switch (v.type()) {
            case ARRAY -> array(v.array());
            default -> scalar(v.type(), v.value());
        };
    }

    private GgufEncoder scalar(GgufValueType type, Object v) {
        return switch (type) {
            case UINT8, INT8, BOOL -> u8(type == GgufValueType.BOOL ? ((Boolean) v ? 1 : 0) : (int) (long) (Long) v);
            case UINT16, INT16 -> u16((int) (long) (Long) v);
            case UINT32, INT32 -> u32((int) (long) (Long) v);
            case UINT64, INT64 -> u64((Long) v);
            case FLOAT32 -> f32((Float) v);
            case FLOAT64 -> f64((Double) v);
            case STRING -> str((String) v);
            case ARRAY -> array((GgufArray) v);
        };
    }

    /** Element type id, u64 count, elements (nested arrays recursively the same way). */
    GgufEncoder array(GgufArray a) {
        GgufValueType et = a.elementType();
        u32(et.id).u64(a.length());
        switch (a.values()) {
            case long[] l -> { for (long x : l) scalar(et, x); }
            case float[] f -> { for (float x : f) f32(x); }
            case double[] d -> { for (double x : d) f64(x); }
            case boolean[] b -> { for (boolean x : b) u8(x ? 1 : 0); }
            case String[] s -> { for (String x : s) str(x); }
            case GgufValue[] nested -> { for (GgufValue x : nested) array(x.array()); }
            default -> throw new IllegalStateException("unexpected array " + a.values().getClass());
        }
        return this;
    }

    /** Zero bytes up to the next multiple of {@code alignment}. */
    GgufEncoder pad(long alignment) {
        while (out.size() % alignment != 0) out.write(0);
        return this;
    }

    int size() {
        return out.size();
    }

    byte[] bytes() {
        return out.toByteArray();
    }
}
