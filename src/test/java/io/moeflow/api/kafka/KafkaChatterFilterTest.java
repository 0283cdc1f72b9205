package io.moeflow.api.kafka;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.logging.Level;
import java.util.logging.LogRecord;
import org.junit.jupiter.api.Test;

class KafkaChatterFilterTest {
    private static LogRecord record(Level level, String logger, String message) {
        LogRecord r = new LogRecord(level, message);
        r.setLoggerName(logger);
        return r;
    }

    /** What a lost broker makes the clients write, twice a second per client: one line per kind passes. */
    @Test
    void repeatedKafkaWarningsPassOncePerKindAndEverythingElsePasses() {
        KafkaChatterFilter filter = new KafkaChatterFilter();
        int passed = 0;
        for (int i = 0; i < 1000; i++) {
            String node = String.valueOf(i % 3 - 1);
            if (filter.isLoggable(record(Level.WARNING, "org.apache.kafka.clients.NetworkClient", "[Consumer clientId=consumer-"
                    + (i % 5) + "] Connection to node " + node + " (localhost/127.0.0.1:9092) could not be established."))) passed++;
        }
        assertEquals(1, passed, "ids and ports do not make a new kind");
        assertTrue(filter.isLoggable(record(Level.WARNING, "org.apache.kafka.clients.NetworkClient", "Bootstrap broker localhost:9092 disconnected")),
                "another kind");
        assertTrue(filter.isLoggable(record(Level.SEVERE, "org.apache.kafka.clients.NetworkClient", "Connection to node 1 could not be established.")),
                "errors always pass");
        for (int i = 0; i < 3; i++) {
            assertTrue(filter.isLoggable(record(Level.INFO, "org.apache.kafka.clients.Metadata", "Cluster ID: abc")), "info passes");
            assertTrue(filter.isLoggable(record(Level.WARNING, "io.moeflow.api.kafka.PromptConsumer", "prompt x")), "the service's own warnings pass");
        }
    }

    @Test
    void aKindPassesAgainAfterTheInterval() {
        KafkaChatterFilter filter = new KafkaChatterFilter();
        long interval = KafkaChatterFilter.INTERVAL_SECONDS * 1_000_000_000L;
        assertTrue(filter.admit("k", 0));
        assertTrue(!filter.admit("k", interval - 1));
        assertTrue(filter.admit("k", interval));
    }
}
