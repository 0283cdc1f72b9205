package io.moeflow.gguf;

import java.util.Objects;

/**
 * One metadata value. {@code value} is a {@link Long} for every integer type (UINT64 as the raw 64 bits, so values
 * above 2^63 are negative), a {@link Float} for FLOAT32, a {@link Double} for FLOAT64, a {@link Boolean}, a
 * {@link String}, or a {@link GgufArray} for ARRAY.
 */
public record GgufValue(GgufValueType type, Object value) {
    public GgufValue {
        Objects.requireNonNull(type, "type");
        Objects.requireNonNull(value, "value");
        Class<?> expected = switch (type) {
            case UINT8, INT8, UINT16, INT16, UINT32, INT32, UINT64, INT64 -> Long.class;
            case FLOAT32 -> Float.class;
            case FLOAT64 -> Double.class;
            case BOOL -> Boolean.class;
            case STRING -> String.class;
            case ARRAY -> GgufArray.class;
        };
        if (value.getClass() != expected)
            throw new IllegalArgumentException("a GGUF " + type + " value is a " + expected.getSimpleName() + ", not a " + value.getClass().getSimpleName());
        if (type.isInteger()) checkIntegerRange(type, (Long) value);
    }

    static void checkIntegerRange(GgufValueType type, long v) {
        boolean ok = switch (type) {
            case UINT8 -> v >= 0 && v <= 0xFF;
            case INT8 -> v >= Byte.MIN_VALUE && v <= Byte.MAX_VALUE;
            case UINT16 -> v >= 0 && v <= 0xFFFF;
            case INT16 -> v >= Short.MIN_VALUE && v <= Short.MAX_VALUE;
            case UINT32 -> v >= 0 && v <= 0xFFFF_FFFFL;
            case INT32 -> v >= Integer.MIN_VALUE && v <= Integer.MAX_VALUE;
            default -> true; // UINT64 (raw bits) and INT64 take any long
        };
        if (!ok) throw new IllegalArgumentException(v + " does not fit in " + type);
    }

    public static GgufValue ofUInt8(int v) { return new GgufValue(GgufValueType.UINT8, (long) v); }
    public static GgufValue ofInt8(int v) { return new GgufValue(GgufValueType.INT8, (long) v); }
    public static GgufValue ofUInt16(int v) { return new GgufValue(GgufValueType.UINT16, (long) v); }
    public static GgufValue ofInt16(int v) { return new GgufValue(GgufValueType.INT16, (long) v); }
    public static GgufValue ofUInt32(long v) { return new GgufValue(GgufValueType.UINT32, v); }
    public static GgufValue ofInt32(int v) { return new GgufValue(GgufValueType.INT32, (long) v); }
    /** {@code v} is the raw 64 bits: negative values stand for 2^63 and above. */
    public static GgufValue ofUInt64(long v) { return new GgufValue(GgufValueType.UINT64, v); }
    public static GgufValue ofInt64(long v) { return new GgufValue(GgufValueType.INT64, v); }
    public static GgufValue ofFloat32(float v) { return new GgufValue(GgufValueType.FLOAT32, v); }
    public static GgufValue ofFloat64(double v) { return new GgufValue(GgufValueType.FLOAT64, v); }
    public static GgufValue ofBool(boolean v) { return new GgufValue(GgufValueType.BOOL, v); }
    public static GgufValue ofString(String v) { return new GgufValue(GgufValueType.STRING, v); }

    /** An array; {@code javaArray} as described in {@link GgufArray}. */
    public static GgufValue ofArray(GgufValueType elementType, Object javaArray) {
        return new GgufValue(GgufValueType.ARRAY, new GgufArray(elementType, javaArray));
    }

    public static GgufValue ofStringArray(String... v) { return ofArray(GgufValueType.STRING, v.clone()); }
    public static GgufValue ofFloatArray(float... v) { return ofArray(GgufValueType.FLOAT32, v.clone()); }

    public static GgufValue ofInt32Array(int... v) {
        long[] l = new long[v.length];
        for (int i = 0; i < v.length; i++) l[i] = v[i];
        return ofArray(GgufValueType.INT32, l);
    }

    /** Elements are unsigned 32-bit values given as ints (their raw bits). */
    public static GgufValue ofUInt32Array(int... v) {
        long[] l = new long[v.length];
        for (int i = 0; i < v.length; i++) l[i] = Integer.toUnsignedLong(v[i]);
        return ofArray(GgufValueType.UINT32, l);
    }

    /** The array, or null when this is not an ARRAY. */
    public GgufArray array() {
        return value instanceof GgufArray a ? a : null;
    }

    @Override
    public String toString() {
        if (type == GgufValueType.UINT64 && (Long) value < 0) return Long.toUnsignedString((Long) value);
        if (type == GgufValueType.STRING) return '"' + (String) value + '"';
        return String.valueOf(value);
    }
}
