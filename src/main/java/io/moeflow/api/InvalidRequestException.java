package io.moeflow.api;

/**
 * A request with a bad value: HTTP answers 400 with an OpenAI error object, Kafka writes one error event.
 * {@code param} names the offending field (null when the request as a whole is wrong).
 */
public final class InvalidRequestException extends RuntimeException {
    private final String param;

    public InvalidRequestException(String param, String message) {
        super(message);
        this.param = param;
    }

    public String param() {
        return param;
    }
}
