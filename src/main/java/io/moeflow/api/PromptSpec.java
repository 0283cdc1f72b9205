package io.moeflow.api;

import java.util.List;

/**
 * A validated generation request as given by a client, before tokenizing: exactly one of {@code prompt} and
 * {@code messages} is set. Null numbers mean "not given" (defaults are applied when the request is prepared).
 * {@code ignoreEos} (vLLM's extension) keeps generating past end-of-generation tokens, for benchmarks.
 * {@code chatOptions} (chat requests only) are the other fields that reach the chat template; {@code sampling} the
 * penalties, logit bias, log-probabilities and number of choices; {@code responseFormat} (never null) says whether
 * the output is constrained to JSON.
 */
public record PromptSpec(String prompt, List<ChatMessage> messages, Integer maxTokens, Float temperature,
                         Float topP, Integer topK, Float minP, Long seed, List<String> stop,
                         boolean ignoreEos, ChatOptions chatOptions, SamplingOptions sampling,
                         ResponseFormat responseFormat) {
    public PromptSpec {
        if (sampling == null) sampling = SamplingOptions.NONE;
        if (responseFormat == null) responseFormat = ResponseFormat.TEXT;
    }

    public PromptSpec(String prompt, List<ChatMessage> messages, Integer maxTokens, Float temperature,
                      Float topP, Integer topK, Float minP, Long seed, List<String> stop,
                      boolean ignoreEos, ChatOptions chatOptions, SamplingOptions sampling) {
        this(prompt, messages, maxTokens, temperature, topP, topK, minP, seed, stop, ignoreEos, chatOptions, sampling,
                ResponseFormat.TEXT);
    }

    public PromptSpec(String prompt, List<ChatMessage> messages, Integer maxTokens, Float temperature,
                      Float topP, Integer topK, Float minP, Long seed, List<String> stop,
                      boolean ignoreEos, ChatOptions chatOptions) {
        this(prompt, messages, maxTokens, temperature, topP, topK, minP, seed, stop, ignoreEos, chatOptions,
                SamplingOptions.NONE, ResponseFormat.TEXT);
    }

    public boolean chat() {
        return messages != null;
    }
}
