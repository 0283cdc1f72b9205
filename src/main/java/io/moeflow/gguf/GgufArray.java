package io.moeflow.gguf;

import java.util.Arrays;
import java.util.Objects;

/**
 * A metadata array: its element type and the elements as one Java array: {@code long[]} for every integer type
 * (UINT64 as the raw 64 bits), {@code float[]} for FLOAT32, {@code double[]} for FLOAT64, {@code boolean[]} for BOOL,
 * {@code String[]} for STRING and {@code GgufValue[]} (each of type ARRAY) for arrays of arrays.
 */
public record GgufArray(GgufValueType elementType, Object values) {
    public GgufArray {
        Objects.requireNonNull(elementType, "elementType");
        Objects.requireNonNull(values, "values");
        Class<?> expected = javaArrayClass(elementType);
        if (values.getClass() != expected)
            throw new IllegalArgumentException("a GGUF array of " + elementType + " holds a " + expected.getSimpleName()
                    + ", not a " + values.getClass().getSimpleName());
        if (elementType.isInteger()) {
            for (long v : (long[]) values) GgufValue.checkIntegerRange(elementType, v);
        } else if (elementType == GgufValueType.STRING) {
            for (String s : (String[]) values) Objects.requireNonNull(s, "string array element");
        } else if (elementType == GgufValueType.ARRAY) {
            for (GgufValue v : (GgufValue[]) values)
                if (v == null || v.type() != GgufValueType.ARRAY)
                    throw new IllegalArgumentException("an array of arrays holds only ARRAY values, not " + (v == null ? "null" : v.type()));
        }
    }

    static Class<?> javaArrayClass(GgufValueType t) {
        return switch (t) {
            case UINT8, INT8, UINT16, INT16, UINT32, INT32, UINT64, INT64 -> long[].class;
            case FLOAT32 -> float[].class;
            case FLOAT64 -> double[].class;
            case BOOL -> boolean[].class;
            case STRING -> String[].class;
            case ARRAY -> GgufValue[].class;
        };
    }

    /** Number of elements. */
    public int length() {
        return java.lang.reflect.Array.getLength(values);
    }

    // Records compare arrays by identity; metadata is compared by content (round trips, tests).
    @Override
    public boolean equals(Object o) {
        return o instanceof GgufArray a && a.elementType == elementType
                && Arrays.deepEquals(new Object[] {values}, new Object[] {a.values});
    }

    @Override
    public int hashCode() {
        return 31 * elementType.hashCode() + Arrays.deepHashCode(new Object[] {values});
    }

    @Override
    public String toString() {
        int n = length();
        StringBuilder sb = new StringBuilder().append(elementType).append('[').append(n).append("]{");
        int shown = Math.min(n, 8);
        for (int i = 0; i < shown; i++) {
            if (i > 0) sb.append(", ");
            Object e = java.lang.reflect.Array.get(values, i);
            sb.append(e instanceof String s ? '"' + s + '"' : e instanceof GgufValue v ? v.value() : e);
        }
        if (n > shown) sb.append(", ...");
        return sb.append('}').toString();
    }
}
