package io.moeflow.scheduler;

import io.moeflow.engine.SamplingParams;
import java.util.List;

/**
 * One generation: prompt token ids (already tokenized, BOS included where the model wants it), sampling
 * parameters, limits and stop conditions. {@code id} is the caller's request id (echoed in every event).
 * {@code maxTokens == 0} means no limit but the model's context length. {@code ignoreEos} keeps generating
 * through the tokenizer's end-of-generation tokens (benchmarks); {@code stopTokens} still stop.
 */
public record GenerationRequest(String id, int[] promptTokens, SamplingParams sampling, int maxTokens,
                                List<String> stopStrings, int[] stopTokens, boolean ignoreEos) {
    public GenerationRequest {
        if (id == null || id.isEmpty()) throw new IllegalArgumentException("request id is empty");
        if (promptTokens == null || promptTokens.length == 0) throw new IllegalArgumentException("prompt is empty");
        if (maxTokens < 0) throw new IllegalArgumentException("max_tokens must be >= 0, got " + maxTokens);
        if (stopStrings != null) {
            for (String s : stopStrings) {
                if (s == null || s.isEmpty()) throw new IllegalArgumentException("stop strings must not be empty");
            }
        }
        stopStrings = stopStrings == null ? List.of() : List.copyOf(stopStrings);
        stopTokens = stopTokens == null ? new int[0] : stopTokens;
        if (sampling == null) sampling = SamplingParams.GREEDY;
    }

    /** A request that stops at the tokenizer's end-of-generation tokens. */
    public GenerationRequest(String id, int[] promptTokens, SamplingParams sampling, int maxTokens,
                             List<String> stopStrings, int[] stopTokens) {
        this(id, promptTokens, sampling, maxTokens, stopStrings, stopTokens, false);
    }
}
