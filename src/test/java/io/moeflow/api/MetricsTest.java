package io.moeflow.api;

import static io.restassured.RestAssured.given;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import io.moeflow.api.testing.KafkaClient;
import io.moeflow.api.testing.PrometheusText;
import io.moeflow.api.testing.Ready;
import io.moeflow.api.testing.TestModelRuntime;
import io.moeflow.scheduler.TokenEvent;
import io.quarkus.test.junit.QuarkusTest;
import io.restassured.http.ContentType;
import jakarta.inject.Inject;
import java.util.List;
import java.util.Set;
import java.util.UUID;
import java.util.function.Predicate;
import org.eclipse.microprofile.config.inject.ConfigProperty;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/** /q/metrics counts requests by front end and outcome, tokens, steps and latencies, read as Prometheus text. */
@QuarkusTest
class MetricsTest {
    static final String REQUESTS = "moeflow_requests_total";
    static final String TTFT = "moeflow_time_to_first_token_seconds_count";
    static final String ITL = "moeflow_inter_token_latency_seconds_count";

    @ConfigProperty(name = "kafka.bootstrap.servers")
    String bootstrap;
    @Inject
    MoeflowConfig config;
    @Inject
    ModelRuntime runtime;

    @BeforeEach
    void modelLoaded() throws InterruptedException {
        Ready.await();
    }

    /**
     * Scrapes until {@code done} holds (the counters of a request are updated as its stream ends, which may be a
     * moment after the client has its answer) or the wait runs out; the caller's assertions then decide.
     */
    static PrometheusText awaitMetrics(Predicate<PrometheusText> done) throws InterruptedException {
        long deadline = System.nanoTime() + KafkaClient.WAIT.toNanos();
        PrometheusText m = PrometheusText.scrape();
        while (!done.test(m) && System.nanoTime() < deadline) {
            Thread.sleep(20);
            m = PrometheusText.scrape();
        }
        return m;
    }

    static double requests(PrometheusText m, String api, String outcome) {
        return m.value(REQUESTS, "api", api, "outcome", outcome);
    }

    @Test
    void aCompletionIsCountedWithItsOutcomeTokensStepsAndLatencies() throws Exception {
        PrometheusText before = PrometheusText.scrape();
        String body = given().contentType(ContentType.JSON)
                .body("{\"prompt\":\"Once upon a time\",\"max_tokens\":5,\"temperature\":0}")
                .post("/v1/completions").then().statusCode(200).extract().asString();
        JsonNode json = RequestParser.JSON.readTree(body);
        String outcome = json.at("/choices/0/finish_reason").asText();
        int completion = json.at("/usage/completion_tokens").asInt();
        int prompt = json.at("/usage/prompt_tokens").asInt();
        assertTrue(outcome.equals("stop") || outcome.equals("length"), outcome);
        assertTrue(completion >= 1, body);

        PrometheusText after = awaitMetrics(m -> requests(m, "http", outcome) > requests(before, "http", outcome));
        assertEquals(requests(before, "http", outcome) + 1, requests(after, "http", outcome), "requests{outcome=" + outcome + "}");
        for (String other : List.of("stop", "length", "cancelled", "error", "rejected")) {
            if (!other.equals(outcome)) assertEquals(requests(before, "http", other), requests(after, "http", other), other);
        }
        assertEquals(before.value("moeflow_generated_tokens_total") + completion, after.value("moeflow_generated_tokens_total"),
                "generated tokens");
        assertEquals(before.value(TTFT, "api", "http") + 1, after.value(TTFT, "api", "http"), "time-to-first-token observations");
        assertEquals(before.value(ITL, "api", "http") + completion - 1, after.value(ITL, "api", "http"),
                "inter-token latency observations (one per token after the first)");
        assertTrue(after.value("moeflow_time_to_first_token_seconds_sum", "api", "http")
                > before.value("moeflow_time_to_first_token_seconds_sum", "api", "http"), "time to first token is positive");
        // Every fed token is in some step: the whole prompt, then each generated token but the last.
        assertEquals(before.value("moeflow_step_batch_tokens_sum") + prompt + completion - 1,
                after.value("moeflow_step_batch_tokens_sum"), "tokens fed in the steps");
        assertTrue(after.value("moeflow_step_batch_tokens_count") > before.value("moeflow_step_batch_tokens_count"));
        assertEquals(before.value("moeflow_prompt_tokens_total") + prompt, after.value("moeflow_prompt_tokens_total"));
        // A Timer histogram: cumulative buckets ending in +Inf = count, including the 1 ms and 30 s SLOs.
        assertEquals(after.value(TTFT, "api", "http"),
                after.value("moeflow_time_to_first_token_seconds_bucket", "api", "http", "le", "+Inf"));
        after.value("moeflow_time_to_first_token_seconds_bucket", "api", "http", "le", "0.001");
        after.value("moeflow_inter_token_latency_seconds_bucket", "api", "http", "le", "30.0");
    }

    /** A prompt of more than two KV blocks, sent twice: the second prefills only what follows its cached blocks. */
    @Test
    void aRepeatedPromptIsCountedAsPrefixCacheHits() throws Exception {
        String text = "Once upon a time there was a little girl named Lily who liked to play in the park with her"
                + " friends and her dog every day " + UUID.randomUUID().toString().replace('-', ' ');
        String body = "{\"prompt\":\"" + text + "\",\"max_tokens\":1,\"temperature\":0}";
        int prompt = RequestParser.JSON.readTree(given().contentType(ContentType.JSON).body(body).post("/v1/completions")
                .then().statusCode(200).extract().asString()).at("/usage/prompt_tokens").asInt();
        assertTrue(prompt > 32, "the prompt covers two full blocks: " + prompt);
        PrometheusText before = awaitMetrics(m -> m.value("moeflow_sequences_running") == 0);
        given().contentType(ContentType.JSON).body(body).post("/v1/completions").then().statusCode(200);
        PrometheusText after = awaitMetrics(m -> m.value("moeflow_prefix_cache_queried_tokens_total")
                > before.value("moeflow_prefix_cache_queried_tokens_total"));
        double hit = after.value("moeflow_prefix_cache_hit_tokens_total") - before.value("moeflow_prefix_cache_hit_tokens_total");
        assertEquals(prompt, after.value("moeflow_prefix_cache_queried_tokens_total")
                - before.value("moeflow_prefix_cache_queried_tokens_total"), "the whole prompt was looked up");
        assertEquals((prompt - 1) / 16 * 16, hit, "every full block before the last token was found");
        assertEquals(prompt - hit, after.value("moeflow_prompt_tokens_total") - before.value("moeflow_prompt_tokens_total"),
                "only the rest was prefilled");
        assertTrue(after.value("moeflow_kv_blocks_cached") >= hit / 16);
    }

    @Test
    void engineGaugesDescribeAnIdleEngineWithResidentExperts() throws Exception {
        PrometheusText m = awaitMetrics(s -> s.value("moeflow_sequences_running") == 0);
        assertEquals(0, m.value("moeflow_sequences_running"));
        assertEquals(0, m.value("moeflow_requests_waiting"));
        double total = m.value("moeflow_kv_blocks_total");
        assertTrue(total > 0, "KV blocks " + total);
        assertEquals(total, m.value("moeflow_kv_blocks_free"), "an idle engine holds no KV blocks");
        m.value("moeflow_preemptions_total");
        assertTrue(m.value("moeflow_tokens_per_second") >= 0);
        // stories260K has no routed experts: no cache, so no hit ratio and nothing read.
        assertTrue(Double.isNaN(m.value("moeflow_expert_cache_hit_ratio")), "hit ratio of resident experts");
        assertEquals(0, m.value("moeflow_expert_cache_read_bytes_total"));
        assertEquals(0, m.value("moeflow_expert_cache_lookups_total", "result", "hit"));
    }

    @Test
    void invalidAndRefusedRequestsAreCountedAsRejected() throws Exception {
        PrometheusText before = PrometheusText.scrape();
        given().contentType(ContentType.JSON).body("{\"prompt\":\"Once\",\"max_tokens\":0}")
                .post("/v1/completions").then().statusCode(400);
        given().contentType(ContentType.JSON).body("{\"messages\":\"not a list\"}")
                .post("/v1/chat/completions").then().statusCode(400);
        var engine = ((TestModelRuntime) runtime).control();
        engine.setFull(true);
        try {
            given().contentType(ContentType.JSON).body("{\"prompt\":\"Once\",\"max_tokens\":2}")
                    .post("/v1/completions").then().statusCode(429);
        } finally {
            engine.setFull(false);
        }
        PrometheusText after = PrometheusText.scrape();
        assertEquals(requests(before, "http", "rejected") + 3, requests(after, "http", "rejected"));
        assertEquals(requests(before, "http", "error"), requests(after, "http", "error"));
        assertEquals(before.value(TTFT, "api", "http"), after.value(TTFT, "api", "http"), "nothing was generated");
    }

    @Test
    void kafkaPromptsAreCountedUnderTheirOwnApi() throws Exception {
        PrometheusText before = PrometheusText.scrape();
        String id = "metrics-" + UUID.randomUUID();
        String bad = "metrics-bad-" + UUID.randomUUID();
        try (KafkaClient kafka = new KafkaClient(bootstrap)) {
            kafka.produce(config.kafka().topics().prompts(), id,
                    "{\"id\":\"" + id + "\",\"prompt\":\"Once upon a time\",\"max_tokens\":3}");
            kafka.produce(config.kafka().topics().prompts(), bad, "{\"id\":\"" + bad + "\",\"prompt\":\"Once\",\"max_tokens\":-3}");
            var events = kafka.tokenEvents(config.kafka().topics().tokens(), Set.of(id, bad));
            TokenEvent last = events.get(id).getLast();
            String outcome = last.finish().wire();
            PrometheusText after = awaitMetrics(m -> requests(m, "kafka", outcome) > requests(before, "kafka", outcome)
                    && requests(m, "kafka", "rejected") > requests(before, "kafka", "rejected"));
            assertEquals(requests(before, "kafka", outcome) + 1, requests(after, "kafka", outcome), outcome);
            assertEquals(requests(before, "kafka", "rejected") + 1, requests(after, "kafka", "rejected"));
            assertEquals(before.value(TTFT, "api", "kafka") + 1, after.value(TTFT, "api", "kafka"));
            assertEquals(before.value(ITL, "api", "kafka") + last.usage().completionTokens() - 1, after.value(ITL, "api", "kafka"));
            assertEquals(before.value(TTFT, "api", "http"), after.value(TTFT, "api", "http"), "not counted as HTTP");
        }
    }
}
