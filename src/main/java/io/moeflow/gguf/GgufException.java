package io.moeflow.gguf;

/** Any problem with a GGUF file or its contents; the message names the file, the problem and the key or tensor. */
public final class GgufException extends RuntimeException {
    public GgufException(String message) {
        super(message);
    }

    public GgufException(String message, Throwable cause) {
        super(message, cause);
    }
}
