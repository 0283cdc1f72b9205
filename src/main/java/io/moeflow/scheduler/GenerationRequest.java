package io.moeflow.scheduler;

import io.moeflow.engine.SamplingParams;
import io.moeflow.engine.TokenConstraint;
import java.util.List;

/**
 * One generation: prompt token ids (already tokenized, BOS included where the model wants it), sampling
 * parameters, limits and stop conditions. {@code id} is the caller's request id (echoed in every event).
 * {@code maxTokens == 0} means no limit but the model's context length. {@code ignoreEos} keeps generating
 * through the tokenizer's end-of-generation tokens (benchmarks); {@code stopTokens} still stop.
 *
 * <p>{@code resumeTokens} (empty for a new generation) are tokens already generated and published by an earlier
 * attempt of the same request, indexes 0..n-1: the engine takes them as generated (they count towards
 * {@code maxTokens}, the text and the stop strings; prompt and they are prefilled together) and emits events from
 * index n on, so the continuation follows exactly what was published, whatever the logits are now.
 *
 * <p>{@code constraint} (null for none) limits which tokens may be sampled (structured output: a grammar compiled
 * from a JSON schema); the generation stops when its grammar is complete and nothing more can follow.
 */
public record GenerationRequest(String id, int[] promptTokens, SamplingParams sampling, int maxTokens,
                                List<String> stopStrings, int[] stopTokens, boolean ignoreEos, int[] resumeTokens,
                                TokenConstraint constraint) {
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
        resumeTokens = resumeTokens == null ? new int[0] : resumeTokens;
        if (sampling == null) sampling = SamplingParams.GREEDY;
    }

    public GenerationRequest(String id, int[] promptTokens, SamplingParams sampling, int maxTokens,
                             List<String> stopStrings, int[] stopTokens, boolean ignoreEos, int[] resumeTokens) {
        this(id, promptTokens, sampling, maxTokens, stopStrings, stopTokens, ignoreEos, resumeTokens, null);
    }

    public GenerationRequest(String id, int[] promptTokens, SamplingParams sampling, int maxTokens,
                             List<String> stopStrings, int[] stopTokens, boolean ignoreEos) {
        this(id, promptTokens, sampling, maxTokens, stopStrings, stopTokens, ignoreEos, null, null);
    }

    /** A request that stops at the tokenizer's end-of-generation tokens. */
    public GenerationRequest(String id, int[] promptTokens, SamplingParams sampling, int maxTokens,
                             List<String> stopStrings, int[] stopTokens) {
        this(id, promptTokens, sampling, maxTokens, stopStrings, stopTokens, false);
    }

    /** This request continuing after {@code published}, the tokens of its events 0..n-1 (see the class comment). */
    public GenerationRequest resumedAfter(int[] published) {
        return new GenerationRequest(id, promptTokens, sampling, maxTokens, stopStrings, stopTokens, ignoreEos, published.clone(),
                constraint);
    }

    /** This request with its sampling limited by {@code constraint} (null for none). */
    public GenerationRequest withConstraint(TokenConstraint constraint) {
        return new GenerationRequest(id, promptTokens, sampling, maxTokens, stopStrings, stopTokens, ignoreEos, resumeTokens,
                constraint);
    }
}
