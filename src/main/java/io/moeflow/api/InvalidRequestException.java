package io.moeflow.api;

/**
 * A request with a bad value: HTTP answers 400 with an OpenAI error object, Kafka writes one error event.
 * {@code param} names the offending field (null when the request as a whole is wrong).
 */
public final class InvalidRequestException extends RuntimeException {
    private final String param;
    private final String code;

    public InvalidRequestException(String param, String message) {
        this(param, message, null);
    }

    /** {@code code}: OpenAI's error code for the kind of problem (unknown_parameter, unsupported_value, ...), or null. */
    public InvalidRequestException(String param, String message, String code) {
        super(message);
        this.param = param;
        this.code = code;
    }

    public String param() {
        return param;
    }

    public String code() {
        return code;
    }
}
