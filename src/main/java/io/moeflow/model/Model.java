package io.moeflow.model;

/**
 * A loaded model: its hyper-parameters and one forward step. Implementations are the architecture classes
 * (a short wiring of shared blocks); weights stay in the memory-mapped GGUF file.
 */
public interface Model extends AutoCloseable {
    ModelInfo info();

    /** Fresh KV memory for this model: {@code blocks} blocks of {@link KvCache#BLOCK} positions. */
    KvCache newKvCache(int blocks);

    /**
     * Runs the batch through the network: writes every token's keys and values into {@code kv} (which must have
     * capacity for them), and for each token with {@code wantLogits} one row of {@code info().vocabSize()} logits
     * into {@code logits}, in batch order. {@code stats} (nullable) receives per-step counters.
     */
    void forward(ForwardBatch batch, KvCache kv, float[] logits, StepStats stats);

    /**
     * Whether the keys and values this model writes at a position are a function of the token ids up to that position
     * alone, so that sequences beginning with the same tokens can share KV blocks (prefix caching). True for every
     * transformer here (sliding windows and latent attention included: what is stored is still a function of the
     * prefix); a model that keeps other per-sequence state (a recurrent state, per-request adapters) must say false.
     */
    default boolean kvIsFunctionOfPrefix() {
        return true;
    }

    @Override
    void close();
}
