package io.moeflow.kernels;

import java.lang.foreign.MemorySegment;

/**
 * A row-major matrix of {@code rows} rows of {@code cols} values in one ggml type, stored in {@code data}
 * from byte {@code offset} (zero copy: usually a slice of the memory-mapped GGUF file). In ggml terms
 * {@code cols = ne[0]}, {@code rows = ne[1]}.
 */
public record QMatrix(GgmlType type, MemorySegment data, long offset, int cols, int rows) {
    public QMatrix {
        if (cols % type.blockSize != 0)
            throw new IllegalArgumentException(type + " row length " + cols + " is not a multiple of " + type.blockSize);
        if (offset < 0 || offset + (long) rows * (cols / type.blockSize) * type.typeSize > data.byteSize())
            throw new IllegalArgumentException("matrix " + rows + "x" + cols + " " + type + " at " + offset + " exceeds its segment of " + data.byteSize() + " bytes");
    }

    /** Bytes per row. */
    public long rowBytes() {
        return (long) (cols / type.blockSize) * type.typeSize;
    }

    /** Byte offset of row {@code r} in {@link #data()}. */
    public long rowOffset(int r) {
        return offset + r * rowBytes();
    }

    /** Total bytes of the matrix. */
    public long byteSize() {
        return rows * rowBytes();
    }
}
