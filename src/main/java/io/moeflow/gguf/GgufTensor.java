package io.moeflow.gguf;

import io.moeflow.kernels.Formats;
import io.moeflow.kernels.GgmlType;
import io.moeflow.kernels.QMatrix;
import java.lang.foreign.MemorySegment;
import java.nio.file.Path;
import java.util.Arrays;

/**
 * One tensor of a GGUF file. {@code ne} are ggml's dimensions ({@code ne[0]} is the contiguous row length),
 * {@code file} the file holding its data (one part of a split model), {@code offset} the absolute offset of its
 * data in that file, {@code data} the zero-copy slice of the file mapping (valid until the {@link GgufFile} is
 * closed).
 */
public record GgufTensor(String name, GgmlType type, long[] ne, long offset, long byteSize, MemorySegment data, Path file) {
    public GgufTensor {
        ne = ne.clone();
    }

    /** A copy of the dimensions. */
    @Override
    public long[] ne() {
        return ne.clone();
    }

    /** Dimension {@code i}, or 1 beyond the stored dimensions (ggml's convention). */
    public long ne(int i) {
        return i < ne.length ? ne[i] : 1;
    }

    /** Number of values. */
    public long elements() {
        long n = 1;
        for (long d : ne) n *= d; // cannot overflow: checked when the file was read
        return n;
    }

    public int dims() {
        return ne.length;
    }

    /** 2-D view, zero copy: {@code cols = ne[0]}, {@code rows} = product of the other dimensions. */
    public QMatrix matrix() {
        return new QMatrix(type, data, 0, toInt(ne[0], "row length"), toInt(elements() / ne[0], "row count"));
    }

    /**
     * Expert {@code e} of a 3-D expert tensor {@code ne = {cols, rows, nExpert}}: a {@code rows x cols} matrix,
     * zero copy.
     */
    public QMatrix expert(int e) {
        if (ne.length != 3)
            throw new GgufException("tensor '" + name + "' has " + ne.length + " dimensions " + Arrays.toString(ne)
                    + "; expert slices need 3 (cols, rows, experts)");
        if (e < 0 || e >= ne[2])
            throw new GgufException("tensor '" + name + "': expert " + e + " is out of range 0.." + (ne[2] - 1));
        int cols = toInt(ne[0], "row length");
        int rows = toInt(ne[1], "row count");
        long expertBytes = byteSize / ne[2];
        return new QMatrix(type, data, e * expertBytes, cols, rows);
    }

    /**
     * Rows {@code [first, first + count)} of expert {@code e} of a 3-D expert tensor, zero copy (one half of a
     * fused {@code ffn_gate_up_exps}).
     */
    public QMatrix expertRows(int e, int first, int count) {
        QMatrix all = expert(e);
        checkRows(first, count, all.rows());
        return new QMatrix(type, data, all.rowOffset(first), all.cols(), count);
    }

    /** Rows {@code [first, first + count)} of the 2-D view, zero copy (one part of a fused {@code attn_qkv}). */
    public QMatrix rows(int first, int count) {
        QMatrix all = matrix();
        checkRows(first, count, all.rows());
        return new QMatrix(type, data, all.rowOffset(first), all.cols(), count);
    }

    private void checkRows(int first, int count, int rows) {
        if (first < 0 || count < 1 || first > rows - count)
            throw new GgufException("tensor '" + name + "' " + Arrays.toString(ne) + ": rows [" + first + ", " + (first + count)
                    + ") are outside its " + rows + " rows");
    }

    /** Bytes of one expert of a 3-D expert tensor (or of the whole tensor when it is not 3-D). */
    public long bytesPerExpert() {
        return ne.length == 3 ? byteSize / ne[2] : byteSize;
    }

    /** A dequantized copy of the whole tensor (for norms, biases and tests). */
    public float[] toFloats() {
        int n = toInt(elements(), "element count");
        float[] out = new float[n];
        try {
            Formats.of(type).dequantize(data, 0, out, 0, n);
        } catch (UnsupportedOperationException ex) {
            throw new GgufException("tensor '" + name + "' of type " + type + " cannot be dequantized: " + ex.getMessage(), ex);
        }
        return out;
    }

    private int toInt(long v, String what) {
        if (v > GgufCursor.MAX_JAVA_ARRAY)
            throw new GgufException("tensor '" + name + "' " + Arrays.toString(ne) + ": " + what + " " + v + " is too large for a Java array");
        return (int) v;
    }

    // Records compare arrays by identity; compare dimensions by content.
    @Override
    public boolean equals(Object o) {
        return o instanceof GgufTensor t && t.name.equals(name) && t.type == type && Arrays.equals(t.ne, ne)
                && t.offset == offset && t.byteSize == byteSize && java.util.Objects.equals(t.file, file);
    }

    @Override
    public int hashCode() {
        return name.hashCode() * 31 + Arrays.hashCode(ne);
    }

    @Override
    public String toString() {
        return name + " " + type + " " + Arrays.toString(ne) + " @" + offset + " (" + byteSize + " bytes)";
    }
}
