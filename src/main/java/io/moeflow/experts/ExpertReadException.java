package io.moeflow.experts;

import java.nio.file.Path;
import java.util.Arrays;

/**
 * Reading routed experts from the model file failed (I/O error, short read, or a changed file). Names the layer,
 * the experts whose reads failed, the file and the cause; once the MoE block has translated it, also the batch
 * rows (tokens of the step) routed to those experts, so a caller can fail only the sequences that needed them.
 */
public final class ExpertReadException extends RuntimeException {
    private final int layer;
    private final int[] experts;
    private final transient Path file;
    private final int[] rows;

    public ExpertReadException(int layer, int expert, Path file, String what, Throwable cause) {
        this(layer, new int[] {expert}, file, what, cause);
    }

    /** {@code experts}: every expert of one acquisition whose read failed, the one {@code what} describes first. */
    public ExpertReadException(int layer, int[] experts, Path file, String what, Throwable cause) {
        super("reading " + describe(experts) + " of layer " + layer + " from " + file + " failed: " + what, cause);
        if (experts.length == 0) throw new IllegalArgumentException("an expert read failure names at least one expert");
        this.layer = layer;
        this.experts = experts.clone();
        this.file = file;
        this.rows = null;
    }

    private ExpertReadException(ExpertReadException e, int[] rows) {
        super(e.getMessage(), e.getCause());
        this.layer = e.layer;
        this.experts = e.experts;
        this.file = e.file;
        this.rows = rows.clone();
        setStackTrace(e.getStackTrace());
        for (Throwable s : e.getSuppressed()) addSuppressed(s);
    }

    private static String describe(int[] experts) {
        if (experts.length == 1) return "expert " + experts[0];
        StringBuilder b = new StringBuilder("experts ");
        for (int i = 0; i < experts.length; i++) b.append(i == 0 ? "" : ", ").append(experts[i]);
        return b.toString();
    }

    /** The same failure, knowing which rows of the step's batch were routed to the failed experts (ascending). */
    public ExpertReadException withRows(int[] rows) {
        return new ExpertReadException(this, rows);
    }

    public int layer() { return layer; }

    /** The first expert whose read failed. */
    public int expert() { return experts[0]; }

    /** Every expert of the acquisition whose read failed. */
    public int[] experts() { return experts.clone(); }

    public Path file() { return file; }

    /** Rows of the step's batch routed to a failed expert, ascending; null when not known (the store's own throw). */
    public int[] rows() { return rows == null ? null : rows.clone(); }

    /** Whether batch row {@code row} was routed to a failed expert (false when the rows are not known). */
    public boolean affectsRow(int row) {
        return rows != null && Arrays.binarySearch(rows, row) >= 0;
    }
}
