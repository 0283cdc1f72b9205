package io.moeflow.api.kafka;

/**
 * A prompt record that cannot be read at all (no value, bad UTF-8, not JSON, no usable id): it goes to the dead
 * letter topic with this message as the {@code dead-letter-reason} header.
 */
public final class UnparseableRecordException extends RuntimeException {
    public UnparseableRecordException(String message) {
        super(message);
    }

    @Override
    public synchronized Throwable fillInStackTrace() {
        return this; // an expected outcome of bad input, not a bug: no stack trace needed
    }
}
