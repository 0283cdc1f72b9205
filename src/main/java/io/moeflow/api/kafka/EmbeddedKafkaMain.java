package io.moeflow.api.kafka;

import java.io.IOException;

/**
 * Entry point of the embedded broker's child JVM: runs kafka.Kafka, and exits (with Kafka's orderly shutdown)
 * when the parent's end of stdin closes, so a killed service never leaves an orphan broker holding the port.
 * Uses only the JDK and Kafka's classes.
 */
public final class EmbeddedKafkaMain {
    private EmbeddedKafkaMain() {}

    public static void main(String[] args) throws Exception {
        Thread watchdog = new Thread(() -> {
            try {
                while (System.in.read() != -1) {
                    // the parent never writes; only end-of-stream matters
                }
            } catch (IOException ignored) {
                // a broken pipe means the parent is gone too
            }
            System.exit(0);
        }, "moeflow-parent-watchdog");
        watchdog.setDaemon(true);
        watchdog.start();
        Class.forName("kafka.Kafka").getMethod("main", String[].class).invoke(null, (Object) args);
    }
}
