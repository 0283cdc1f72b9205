package io.moeflow.api;

import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.moeflow.api.kafka.PromptConsumer;
import io.moeflow.api.testing.KafkaClient;
import io.moeflow.api.testing.LogCapture;
import io.moeflow.api.testing.Ready;
import io.quarkus.test.junit.QuarkusTest;
import jakarta.inject.Inject;
import java.util.List;
import java.util.Set;
import java.util.UUID;
import org.eclipse.microprofile.config.inject.ConfigProperty;
import org.junit.jupiter.api.Test;

/**
 * A client cannot write a line of its own into the service log: a Kafka prompt id with a newline and a fake ERROR
 * line (the service logs the id when it sees it twice) is logged on one line with the newline escaped.
 */
@QuarkusTest
class ForgedLogLinesTest {
    @ConfigProperty(name = "kafka.bootstrap.servers")
    String bootstrap;
    @Inject
    MoeflowConfig config;
    @Inject
    PromptConsumer consumer;

    private static final String FORGED = "\n2026-12-03 06:00:00,000 ERROR [io.moeflow.api] (main) forged line\r";

    @Test
    void newlinesFromClientsStayEscaped() throws Exception {
        Ready.await();
        String id = "forged-" + UUID.randomUUID() + FORGED;
        String json = "{\"id\":" + RequestParser.JSON.writeValueAsString(id) + ",\"prompt\":\"Once\",\"max_tokens\":1}";
        try (LogCapture log = LogCapture.start(); KafkaClient kafka = new KafkaClient(bootstrap)) {
            long duplicates = consumer.duplicates();
            kafka.produce(config.kafka().topics().prompts(), id, json);
            kafka.produce(config.kafka().topics().prompts(), id, json);
            kafka.tokenEvents(config.kafka().topics().tokens(), Set.of(id));
            long deadline = System.nanoTime() + KafkaClient.WAIT.toNanos();
            while (System.nanoTime() < deadline && consumer.duplicates() == duplicates) Thread.sleep(50);
            List<LogCapture.Entry> mentions = log.entries().stream()
                    .filter(e -> e.message().contains("forged line")).toList();
            assertFalse(mentions.isEmpty(), "the duplicate was not logged: " + log.entries());
            for (LogCapture.Entry e : mentions) {
                assertFalse(e.message().contains("\n") || e.message().contains("\r"), "a raw line break in the log: " + e);
                assertTrue(e.message().contains("\\n2026-12-03 06:00:00,000 ERROR"), "not escaped: " + e);
            }
        }
    }
}
