package io.moeflow.gguf;

/** Metadata value types, numbered as in the GGUF specification. */
public enum GgufValueType {
    UINT8(0, 1), INT8(1, 1), UINT16(2, 2), INT16(3, 2), UINT32(4, 4), INT32(5, 4), FLOAT32(6, 4), BOOL(7, 1),
    STRING(8, 8), ARRAY(9, 12), UINT64(10, 8), INT64(11, 8), FLOAT64(12, 8);

    /** The id stored in the file. */
    public final int id;
    /**
     * Smallest number of bytes one value takes in a file (exact for fixed-size types; the length prefix for
     * STRING, type plus count for ARRAY). Used to reject absurd counts before allocating.
     */
    final int minBytes;

    GgufValueType(int id, int minBytes) {
        this.id = id;
        this.minBytes = minBytes;
    }

    private static final GgufValueType[] BY_ID = values();

    /** The type with this id, or null if there is none. */
    public static GgufValueType byId(int id) {
        return id >= 0 && id < BY_ID.length ? BY_ID[id] : null;
    }

    /** True for the eight integer types. */
    public boolean isInteger() {
        return switch (this) {
            case UINT8, INT8, UINT16, INT16, UINT32, INT32, UINT64, INT64 -> true;
            default -> false;
        };
    }

    /** True for the types whose size in a file is fixed. */
    boolean isFixedSize() {
        return this != STRING && this != ARRAY;
    }
}
