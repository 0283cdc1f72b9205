package io.moeflow.model;

/**
 * The tokens of one forward step, possibly from several sequences (continuous batching) and possibly
 * several consecutive tokens of one sequence (prefill). Tokens of one sequence appear in position order;
 * each token attends to its sequence's KV cache up to and including its own position. Reused between
 * steps: {@link #clear()} then {@link #add}.
 */
public final class ForwardBatch {
    public int size;
    public int[] tokens;
    public int[] positions;
    /** KV cache sequence id of each token. */
    public int[] seqIds;
    /** Whether logits are wanted for each token; logits rows are written in batch order for those only. */
    public boolean[] wantLogits;

    public ForwardBatch(int capacity) {
        tokens = new int[capacity];
        positions = new int[capacity];
        seqIds = new int[capacity];
        wantLogits = new boolean[capacity];
    }

    public void clear() {
        size = 0;
    }

    public void add(int token, int position, int seqId, boolean logits) {
        if (size == tokens.length) grow();
        tokens[size] = token;
        positions[size] = position;
        seqIds[size] = seqId;
        wantLogits[size] = logits;
        size++;
    }

    public int logitRows() {
        int n = 0;
        for (int i = 0; i < size; i++) if (wantLogits[i]) n++;
        return n;
    }

    private void grow() {
        int c = Math.max(8, tokens.length * 2);
        tokens = java.util.Arrays.copyOf(tokens, c);
        positions = java.util.Arrays.copyOf(positions, c);
        seqIds = java.util.Arrays.copyOf(seqIds, c);
        wantLogits = java.util.Arrays.copyOf(wantLogits, c);
    }
}
