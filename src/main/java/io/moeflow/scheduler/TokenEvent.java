package io.moeflow.scheduler;

import io.moeflow.engine.TokenLogprobs;

/**
 * One generated token of a request. {@code index} counts from 0 without gaps; {@code text} is the UTF-8-complete
 * text delta (may be empty while a multi-byte character is incomplete, and excludes a matched stop string).
 * The last event has a non-null {@code finish} and {@code usage}; an error event has {@code token = -1},
 * {@code finish = ERROR} and a message. {@code logprobs} (null unless the request asked for them, and for a stop
 * token) are the token's log-probability and its alternatives.
 */
public record TokenEvent(String requestId, int index, int token, String text, FinishReason finish, Usage usage,
                         String errorCode, String errorMessage, TokenLogprobs logprobs) {
    /** {@code cachedPromptTokens}: prompt tokens whose KV came from the prefix cache (not prefilled again). */
    public record Usage(int promptTokens, int completionTokens, int cachedPromptTokens) {
        public Usage(int promptTokens, int completionTokens) {
            this(promptTokens, completionTokens, 0);
        }
    }

    public TokenEvent(String requestId, int index, int token, String text, FinishReason finish, Usage usage,
                      String errorCode, String errorMessage) {
        this(requestId, index, token, text, finish, usage, errorCode, errorMessage, null);
    }

    public boolean last() {
        return finish != null;
    }
}
