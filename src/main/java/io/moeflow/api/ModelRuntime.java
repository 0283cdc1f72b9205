package io.moeflow.api;

import io.moeflow.scheduler.GenerationEngine;
import io.moeflow.tokenizer.Tokenizer;
import java.util.Optional;

/**
 * What the HTTP and Kafka front ends need from the loaded model: its state, tokenizer, chat template and the
 * generation engine. One bean per process; the model loads in the background so the service can answer 503
 * meanwhile.
 */
public interface ModelRuntime {
    enum State { LOADING, READY, FAILED }

    State state();

    /** Why loading failed (state FAILED), else empty. */
    Optional<String> failure();

    /** The id clients see in /v1/models and responses. */
    String modelName();

    /** KV positions per sequence: prompt plus generated tokens must fit. */
    int contextLength();

    /** Token ids of {@code text}; {@code addSpecial} adds BOS where the model wants it. */
    int[] encode(String text, boolean addSpecial, boolean parseSpecial);

    /** The GGUF's tokenizer.chat_template, if any. */
    Optional<String> chatTemplate();

    /** Text of the BOS and EOS tokens, for chat templates ({@code bos_token}, {@code eos_token}). */
    String bosText();

    String eosText();

    /** The model's tokenizer (ids, pieces, add_bos/add_eos); only valid in state READY. */
    Tokenizer tokenizer();

    /** The engine; only valid in state READY. */
    GenerationEngine engine();
}
