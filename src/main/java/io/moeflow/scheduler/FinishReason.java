package io.moeflow.scheduler;

/** Why a generation ended; serialized in lower case ("stop", "length", ...). */
public enum FinishReason {
    STOP, LENGTH, CANCELLED, ERROR;

    public String wire() {
        return name().toLowerCase(java.util.Locale.ROOT);
    }
}
