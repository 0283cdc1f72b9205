package io.moeflow.api;

/** The model is still loading (or failed to load): HTTP answers 503. */
public final class ServiceUnavailableException extends RuntimeException {
    public ServiceUnavailableException(String message) {
        super(message);
    }
}
