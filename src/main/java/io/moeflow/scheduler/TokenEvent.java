package io.moeflow.scheduler;

/**
 * One generated token of a request. {@code index} counts from 0 without gaps; {@code text} is the UTF-8-complete
 * text delta (may be empty while a multi-byte character is incomplete, and excludes a matched stop string).
 * The last event has a non-null {@code finish} and {@code usage}; an error event has {@code token = -1},
 * {@code finish = ERROR} and a message.
 */
public record TokenEvent(String requestId, int index, int token, String text, FinishReason finish, Usage usage,
                         String errorCode, String errorMessage) {
    public record Usage(int promptTokens, int completionTokens) {}

    public boolean last() {
        return finish != null;
    }
}
