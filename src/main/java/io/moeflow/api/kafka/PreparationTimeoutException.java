package io.moeflow.api.kafka;

/**
 * A prompt record whose preparation (parsing, chat template, tokenizer) took longer than
 * moeflow.kafka.prepare-timeout: it goes to the dead letter topic with this message as the
 * {@code dead-letter-reason} header, instead of being redelivered forever.
 */
public final class PreparationTimeoutException extends RuntimeException {
    public PreparationTimeoutException(String message) {
        super(message);
    }

    @Override
    public synchronized Throwable fillInStackTrace() {
        return this; // an expected outcome of a slow prompt, not a bug
    }
}
