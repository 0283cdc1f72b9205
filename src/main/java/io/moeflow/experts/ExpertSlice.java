package io.moeflow.experts;

import io.moeflow.gguf.GgufException;
import io.moeflow.gguf.GgufTensor;
import io.moeflow.kernels.QMatrix;
import java.nio.file.Path;

/**
 * One of an expert's three matrices in a 3-D expert tensor {@code ne = {cols, rows, n_expert}}: rows
 * {@code [firstRow, firstRow + rows)} of every expert's slice. Usually the whole slice; a fused
 * {@code ffn_gate_up_exps} holds gate (the first half) and up (the second half) of each expert.
 */
public record ExpertSlice(GgufTensor tensor, int firstRow, int rows) {
    public ExpertSlice {
        if (tensor.dims() != 3)
            throw new GgufException("expert tensor " + tensor + " is not 3-D (cols, rows, experts)");
        if (firstRow < 0 || rows < 1 || firstRow + (long) rows > tensor.ne(1))
            throw new GgufException("expert tensor " + tensor + ": rows [" + firstRow + ", " + (firstRow + rows) + ") are outside its " + tensor.ne(1) + " rows");
    }

    /** Every row of each expert's slice. */
    public static ExpertSlice of(GgufTensor tensor) {
        return new ExpertSlice(tensor, 0, (int) tensor.ne(1));
    }

    public int experts() { return (int) tensor.ne(2); }

    public int cols() { return (int) tensor.ne(0); }

    /** Bytes of this matrix of one expert. */
    public long bytes() { return rows * rowBytes(); }

    private long rowBytes() {
        return tensor.type().bytesFor(tensor.ne(0));
    }

    /** The file holding the tensor (one part of a split model). */
    public Path file() { return tensor.file(); }

    /** Absolute offset of expert {@code e}'s matrix in {@link #file()}. */
    public long fileOffset(int e) {
        return tensor.offset() + e * tensor.bytesPerExpert() + firstRow * rowBytes();
    }

    /** Expert {@code e}'s matrix in the memory mapping, zero copy. */
    public QMatrix expert(int e) {
        return tensor.expertRows(e, firstRow, rows);
    }

    /** A name for messages: the tensor, and the rows when not all of them. */
    public String describe() {
        return rows == tensor.ne(1) ? tensor.name() : tensor.name() + " rows [" + firstRow + ", " + (firstRow + rows) + ")";
    }
}
