package io.moeflow.api;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.moeflow.api.testing.ControllableEngine;
import io.moeflow.api.testing.KafkaClient;
import io.moeflow.api.testing.PrometheusText;
import io.moeflow.api.testing.Ready;
import io.moeflow.api.testing.TestModelRuntime;
import io.quarkus.test.junit.QuarkusTest;
import jakarta.inject.Inject;
import java.io.BufferedReader;
import java.io.InputStream;
import java.io.InputStreamReader;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import org.eclipse.microprofile.config.inject.ConfigProperty;
import org.junit.jupiter.api.Test;

/** A client that goes away mid-stream cancels its generation in the engine, which frees its sequence. */
@QuarkusTest
class CancellationTest {
    @ConfigProperty(name = "quarkus.http.test-port")
    int port;
    @Inject
    ModelRuntime runtime;

    @Test
    void closingTheStreamCancelsTheGeneration() throws Exception {
        Ready.await();
        PrometheusText before = PrometheusText.scrape();
        ControllableEngine engine = ((TestModelRuntime) runtime).control();
        engine.setEventDelay(Duration.ofMillis(200)); // long enough that the client leaves mid-generation
        try {
            HttpRequest request = HttpRequest.newBuilder(URI.create("http://localhost:" + port + "/v1/completions"))
                    .header("Content-Type", "application/json")
                    .POST(HttpRequest.BodyPublishers.ofString("{\"prompt\":\"a long story\",\"max_tokens\":200,\"stream\":true}"))
                    .build();
            HttpResponse<InputStream> response = HttpClient.newHttpClient().send(request, HttpResponse.BodyHandlers.ofInputStream());
            assertEquals(200, response.statusCode());
            String id;
            InputStream body = response.body();
            BufferedReader reader = new BufferedReader(new InputStreamReader(body, StandardCharsets.UTF_8));
            String first = reader.readLine();
            assertTrue(first.startsWith("data: "), first);
            id = RequestParser.JSON.readTree(first.substring(6)).get("id").asText();
            assertFalse(engine.wasCancelled(id));
            body.close();
            long deadline = System.nanoTime() + KafkaClient.WAIT.toNanos();
            while (!engine.wasCancelled(id) && System.nanoTime() < deadline) Thread.sleep(10);
            assertTrue(engine.wasCancelled(id), "the engine saw the cancel of " + id);

            // Visible in the metrics: counted as cancelled, and the sequence and its KV blocks are given back.
            PrometheusText after = MetricsTest.awaitMetrics(m -> MetricsTest.requests(m, "http", "cancelled")
                    > MetricsTest.requests(before, "http", "cancelled") && m.value("moeflow_sequences_running") == 0);
            assertEquals(MetricsTest.requests(before, "http", "cancelled") + 1, MetricsTest.requests(after, "http", "cancelled"));
            for (String other : new String[] {"stop", "length", "error"}) {
                assertEquals(MetricsTest.requests(before, "http", other), MetricsTest.requests(after, "http", other), other);
            }
            assertEquals(0, after.value("moeflow_sequences_running"), "running sequences after the cancel");
            assertEquals(0, after.value("moeflow_requests_waiting"));
            assertEquals(after.value("moeflow_kv_blocks_total"), after.value("moeflow_kv_blocks_free"), "KV blocks of the cancelled sequence");
            assertTrue(after.value(MetricsTest.TTFT, "api", "http") > before.value(MetricsTest.TTFT, "api", "http"),
                    "its first token was timed");
        } finally {
            engine.setEventDelay(Duration.ZERO);
        }
    }
}
