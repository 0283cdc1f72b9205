package io.moeflow.loadgen;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.moeflow.api.MoeflowConfig;
import io.moeflow.api.testing.KafkaClient;
import io.moeflow.api.testing.Ready;
import io.moeflow.cli.Main;
import io.quarkus.test.junit.QuarkusTest;
import jakarta.inject.Inject;
import java.net.URI;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import org.eclipse.microprofile.config.inject.ConfigProperty;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The load generator against the running test service (stories260K) and the test broker, small counts. */
@QuarkusTest
class LoadgenServiceTest {
    @ConfigProperty(name = "kafka.bootstrap.servers")
    String bootstrap;
    @ConfigProperty(name = "quarkus.http.test-port")
    int port;
    @Inject
    MoeflowConfig config;

    @BeforeEach
    void modelLoaded() throws InterruptedException {
        Ready.await();
    }

    private URI url() {
        return URI.create("http://localhost:" + port);
    }

    private static void assertLevel(LevelResult r, int concurrency, int requests, List<RequestTrace> traces) {
        assertEquals(concurrency, r.concurrency());
        assertEquals(requests, r.requests(), r.toString());
        assertEquals(0, r.errors(), r.firstError());
        assertEquals(requests, traces.size());
        long tokens = 0;
        for (RequestTrace t : traces) {
            assertNull(t.error());
            assertTrue(t.tokens() > 0 && t.tokens() <= 4, "tokens of one request: " + t.tokens());
            assertTrue(t.tokenNanos().length > 0, "at least one output arrived");
            assertTrue(t.ttftMs() >= 0 && t.ttftMs() <= (t.doneNanos() - t.sentNanos()) / 1e6, "TTFT within the request");
            assertTrue(t.promptTokens() > 0, "the service reports the prompt tokens");
            tokens += t.tokens();
        }
        assertEquals(tokens, r.tokens());
        assertTrue(r.aggregateTps() > 0);
        assertTrue(r.ttftMs().p99() <= r.wallSeconds() * 1000, "TTFT within the level's wall time");
    }

    private static LevelResult run(LoadTarget target, int concurrency, int requests, List<RequestTrace> traces)
            throws InterruptedException {
        RequestSpec spec = new RequestSpec("Once upon a time", 4, 0);
        return ClosedLoop.run(target, spec, concurrency, requests, "loadgen-test-" + System.nanoTime(),
                (done, total, trace) -> traces.add(trace));
    }

    @Test
    void httpPathCountsEveryRequestAndItsTokens() throws Exception {
        try (HttpTarget http = new HttpTarget(url(), null, Duration.ofSeconds(60))) {
            List<RequestTrace> traces = new CopyOnWriteArrayList<>();
            assertLevel(run(http, 3, 5, traces), 3, 5, traces);
        }
    }

    @Test
    void kafkaPathMatchesTokenEventsToTheirPrompts() throws Exception {
        try (KafkaTarget kafka = new KafkaTarget(bootstrap, config.kafka().topics().prompts(), config.kafka().topics().tokens(),
                KafkaClient.WAIT)) {
            List<RequestTrace> traces = new CopyOnWriteArrayList<>();
            assertLevel(run(kafka, 3, 5, traces), 3, 5, traces);
        }
    }

    @Test
    void commandRunsBothPathsAtEveryLevelAndWritesJson(@TempDir Path dir) throws Exception {
        Path json = dir.resolve("loadgen.json");
        Path engine = dir.resolve("engine.json"); // as `moeflow bench --concurrency 1,2 --json` writes it
        Files.writeString(engine, "[{\"concurrency\": 1, \"wall_tps\": 100.0}, {\"concurrency\": 2, \"wall_tps\": 150.0}]");
        int code = Main.run("loadgen", "--url", url().toString(), "--kafka", bootstrap,
                "--prompts-topic", config.kafka().topics().prompts(), "--tokens-topic", config.kafka().topics().tokens(),
                "--via", "both", "--concurrency", "1,2", "--requests", "3", "--prompt-tokens", "6", "--max-tokens", "3",
                "--baseline", engine.toString(), "--json", json.toString());
        assertEquals(0, code);
        JsonNode rows = new ObjectMapper().readTree(Files.readString(json));
        assertEquals(4, rows.size());
        String[] via = {"http", "http", "kafka", "kafka"};
        int[] concurrency = {1, 2, 1, 2};
        for (int i = 0; i < 4; i++) {
            JsonNode r = rows.get(i);
            assertEquals(via[i], r.get("via").asText());
            assertEquals(concurrency[i], r.get("concurrency").asInt());
            assertEquals(3, r.get("requests").asInt());
            assertEquals(0, r.get("errors").asInt(), r.toString());
            assertTrue(r.get("tokens").asInt() > 0 && r.get("tokens").asInt() <= 9, r.toString());
            assertTrue(r.get("prompt_tokens").asDouble() > 0, r.toString());
            assertTrue(r.at("/ttft_ms/p50").asDouble() <= r.get("wall_s").asDouble() * 1000, r.toString());
            assertEquals(r.get("aggregate_tps").asDouble() / (concurrency[i] == 1 ? 100.0 : 150.0), r.get("vs_engine").asDouble(), 1e-3);
        }
    }
}
