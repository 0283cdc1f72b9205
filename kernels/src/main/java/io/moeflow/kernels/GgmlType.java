package io.moeflow.kernels;

/**
 * ggml tensor types as numbered in GGUF files (ggml.h). Block size and bytes per block follow ggml's
 * type traits, so byte arithmetic on a file never needs the kernels themselves.
 */
public enum GgmlType {
    F32(0, 1, 4),
    F16(1, 1, 2),
    Q4_0(2, 32, 18),
    Q4_1(3, 32, 20),
    Q5_0(6, 32, 22),
    Q5_1(7, 32, 24),
    Q8_0(8, 32, 34),
    Q8_1(9, 32, 36),
    Q2_K(10, 256, 84),
    Q3_K(11, 256, 110),
    Q4_K(12, 256, 144),
    Q5_K(13, 256, 176),
    Q6_K(14, 256, 210),
    Q8_K(15, 256, 292),
    I8(24, 1, 1),
    I16(25, 1, 2),
    I32(26, 1, 4),
    I64(27, 1, 8),
    F64(28, 1, 8),
    BF16(30, 1, 2),
    MXFP4(39, 32, 17);

    /** ggml's numeric id, as stored in a GGUF tensor info. */
    public final int id;
    /** Values per block. */
    public final int blockSize;
    /** Bytes per block. */
    public final int typeSize;

    GgmlType(int id, int blockSize, int typeSize) {
        this.id = id;
        this.blockSize = blockSize;
        this.typeSize = typeSize;
    }

    private static final GgmlType[] BY_ID = new GgmlType[64];

    static {
        for (GgmlType t : values()) BY_ID[t.id] = t;
    }

    /** The type with this ggml id, or null when moeflow does not know it. */
    public static GgmlType byId(int id) {
        return id >= 0 && id < BY_ID.length ? BY_ID[id] : null;
    }

    /** Bytes taken by {@code n} values; {@code n} must be a multiple of the block size. */
    public long bytesFor(long n) {
        if (n % blockSize != 0) throw new IllegalArgumentException(name() + ": " + n + " values is not a multiple of the block size " + blockSize);
        return n / blockSize * typeSize;
    }
}
