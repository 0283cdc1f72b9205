package io.moeflow.api;

import java.util.Map;

/**
 * The sampling options of a request beyond temperature/top-k/top-p/min-p, as the client gave them (null: not given,
 * the engine's default applies). {@code logprobs} is the number of alternatives per token when log-probabilities are
 * asked for (chat: {@code top_logprobs} with {@code logprobs: true}; completions: the {@code logprobs} integer), null
 * when they are not. {@code logitBias} maps token ids (checked against the vocabulary when the request is prepared)
 * to biases; {@code n} is the number of choices.
 */
public record SamplingOptions(Float presencePenalty, Float frequencyPenalty, Float repeatPenalty, Integer repeatLastN,
                              Map<Integer, Float> logitBias, Integer logprobs, int n) {
    public static final SamplingOptions NONE = new SamplingOptions(null, null, null, null, Map.of(), null, 1);

    public SamplingOptions {
        logitBias = logitBias == null ? Map.of() : Map.copyOf(logitBias);
        if (n < 1) throw new IllegalArgumentException("n must be >= 1, got " + n);
    }
}
