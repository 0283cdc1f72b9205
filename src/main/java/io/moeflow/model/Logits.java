package io.moeflow.model;

/** Logits of every position of one token sequence, in one batched step or one token per step. */
public final class Logits {
    private Logits() {}

    /** {@code [tokens.length][vocab]} row-major; {@code stats} (nullable) sees every step. */
    public static float[] compute(Model m, int[] tokens, boolean decode, StepStats stats) {
        int vocab = m.info().vocabSize();
        if (tokens.length == 0) throw new IllegalArgumentException("no tokens given");
        for (int t : tokens)
            if (t < 0 || t >= vocab) throw new IllegalArgumentException("token id " + t + " is outside the vocabulary [0, " + vocab + ")");
        if (tokens.length > m.info().contextLength())
            throw new IllegalArgumentException(tokens.length + " tokens exceed the context length " + m.info().contextLength());
        KvCache kv = m.newKvCache(KvCache.blocksFor(tokens.length));
        int seq = kv.newSequence();
        kv.ensureCapacity(seq, tokens.length);
        float[] logits = new float[tokens.length * vocab];
        ForwardBatch b = new ForwardBatch(tokens.length);
        if (!decode) {
            for (int i = 0; i < tokens.length; i++) b.add(tokens[i], i, seq, true);
            m.forward(b, kv, logits, stats);
            return logits;
        }
        float[] row = new float[vocab];
        for (int i = 0; i < tokens.length; i++) {
            b.clear();
            b.add(tokens[i], i, seq, true);
            m.forward(b, kv, row, stats);
            System.arraycopy(row, 0, logits, i * vocab, vocab);
        }
        return logits;
    }
}
