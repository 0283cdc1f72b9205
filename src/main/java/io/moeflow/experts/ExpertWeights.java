package io.moeflow.experts;

import io.moeflow.kernels.QMatrix;

/**
 * The routed experts of one MoE layer: gate, up and down matrices of each expert, and optional per-expert bias
 * vectors (gpt-oss) and output scales. The model asks for them by expert id; where they live (the memory-mapped file,
 * or a RAM-budgeted cache) is this package's business.
 *
 * <p>Protocol of one step: the MoE block calls {@link #request} with the experts it is about to run (at most
 * {@link #maxAcquired()} at a time, so a cache can start every read before anything waits), takes them with
 * {@link #ready} as they become readable (those already in memory first), reads their matrices, and calls
 * {@link #release} with the same ids when their results are computed, also when {@code ready} threw. Between
 * {@code ready} and {@code release} the matrices stay valid; outside, a cache may reuse their memory. The
 * memory-mapped implementation holds everything all the time, so the three calls cost nothing there.
 */
public interface ExpertWeights {
    int count();

    QMatrix gate(int expert);

    QMatrix up(int expert);

    QMatrix down(int expert);

    /** Bias added to the gate projection of {@code expert} ({@code [ffn]}), or null when the experts have none. */
    default float[] gateBias(int expert) { return null; }

    /** Bias added to the up projection ({@code [ffn]}), or null. */
    default float[] upBias(int expert) { return null; }

    /** Bias added to the down projection ({@code [n_embd]}), or null. */
    default float[] downBias(int expert) { return null; }

    /** Factor applied to the gate projection's output before its bias ({@code ffn_gate_exps.scale}); 1 when none. */
    default float gateScale(int expert) { return 1f; }

    /** Factor applied to the up projection's output before its bias; 1 when none. */
    default float upScale(int expert) { return 1f; }

    /** Factor applied to the down projection's output before its bias; 1 when none. */
    default float downScale(int expert) { return 1f; }

    /** Bytes of one expert's three matrices. */
    long bytesPerExpert();

    /** The most experts that may be requested together (the callers split larger sets into waves). */
    default int maxAcquired() {
        return Integer.MAX_VALUE;
    }

    /**
     * Pins experts {@code ids[from .. from+n)} and starts the reads they need, without waiting for them (it waits
     * only for a free slot). The caller then takes them with {@link #ready} and ends with {@link #release} (same
     * arguments), also when {@code ready} throws.
     */
    default void request(int[] ids, int from, int n) {}

    /**
     * Of the requested experts {@code ids[from .. from+n)}, moves those readable now to the front (reordering
     * that range) and returns how many; blocks until at least one is. Throws {@link ExpertReadException} naming
     * every failed expert when only failed reads remain.
     */
    default int ready(int[] ids, int from, int n) { return n; }

    /** Ends the use of experts requested with the same arguments. */
    default void release(int[] ids, int from, int n) {}
}
