package io.moeflow.api.http;

import static io.restassured.RestAssured.given;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.moeflow.api.GgufModelRuntime;
import io.moeflow.api.ModelRuntime;
import io.moeflow.api.RequestParser;
import io.moeflow.api.testing.KafkaTestResource;
import io.moeflow.api.testing.Ready;
import io.moeflow.experts.EvictionPolicy;
import io.moeflow.experts.ExpertCacheStats;
import io.moeflow.scheduler.SchedulerStats;
import io.quarkus.test.common.QuarkusTestResource;
import io.quarkus.test.junit.QuarkusTest;
import io.restassured.http.ContentType;
import jakarta.inject.Inject;
import java.util.List;
import org.junit.jupiter.api.Test;

/** GET /v1/stats: its fields against the scheduler the service runs, and the JSON of figures that do not exist yet. */
@QuarkusTest
@QuarkusTestResource(value = KafkaTestResource.class, restrictToAnnotatedClass = false)
class StatsEndpointTest {
    @Inject
    ModelRuntime runtime;
    @Inject
    GgufModelRuntime loaded;

    private static JsonNode stats() throws Exception {
        String body = given().when().get("/v1/stats").then().statusCode(200).contentType(ContentType.JSON)
                .extract().asString();
        return RequestParser.JSON.readTree(body);
    }

    @Test
    void statsReportTheSchedulerAndCountGeneratedTokens() throws Exception {
        Ready.await();
        JsonNode before = stats();
        int completionTokens = given().contentType(ContentType.JSON)
                .body("{\"prompt\":\"Once upon a time\",\"max_tokens\":7,\"temperature\":0}")
                .when().post("/v1/completions").then().statusCode(200)
                .extract().path("usage.completion_tokens");
        JsonNode after = stats();

        assertEquals("moeflow.stats", after.get("object").asText());
        assertEquals(runtime.modelName(), after.get("model").asText());
        assertEquals("ready", after.get("state").asText());
        assertTrue(after.get("running").isInt() && after.get("running").asInt() >= 0, after.toString());
        assertTrue(after.get("waiting").isInt() && after.get("waiting").asInt() >= 0, after.toString());
        // other requests may run meanwhile, so at least this one's tokens
        long generated = after.get("generated_tokens").asLong() - before.get("generated_tokens").asLong();
        assertTrue(generated >= completionTokens, "generated " + generated + " < " + completionTokens + ": " + after);
        assertEquals(loaded.scheduler().totalKvBlocks(), after.get("kv_total_blocks").asInt());
        int free = after.get("kv_free_blocks").asInt();
        assertTrue(free >= 0 && free <= loaded.scheduler().totalKvBlocks(), after.toString());
        // a figure over a window cannot count more tokens than were ever generated
        JsonNode tps = after.get("tokens_per_second");
        assertTrue(tps.isNumber() && tps.asDouble() >= 0, after.toString());
        assertTrue(tps.asDouble() * after.get("window_seconds").asDouble() <= after.get("generated_tokens").asLong() + 1e-6,
                after.toString());
        for (String batch : List.of("last_batch_size", "mean_batch_size")) {
            JsonNode n = after.get(batch);
            assertTrue(n.isNull() || n.isNumber() && n.asDouble() >= 1, batch + ": " + after);
        }
        // stories260K is dense: no expert store
        assertTrue(after.has("expert_cache") && after.get("expert_cache").isNull(), after.toString());
    }

    @Test
    void beforeTheModelLoadsTheFiguresAreNull() {
        ObjectNode json = LiveStats.json("m", "loading", null, null, null);
        assertEquals("loading", json.get("state").asText());
        for (String field : List.of("running", "waiting", "last_batch_size", "mean_batch_size", "tokens_per_second",
                "generated_tokens", "kv_free_blocks", "kv_total_blocks", "expert_cache", "kv_cached_blocks",
                "prefix_cache_queried_tokens", "prefix_cache_hit_tokens", "prefix_cache_hit_rate")) {
            assertTrue(json.has(field) && json.get(field).isNull(), field + ": " + json);
        }
    }

    @Test
    void aBudgetedExpertStoreReportsHitRateAndBytesRead() {
        var layer = new ExpertCacheStats.Layer(-1, 30, 10, 4096, 10, 0, 0, 0, 2);
        var experts = new ExpertCacheStats(EvictionPolicy.LRU, false, 1 << 20, 1 << 12, 256, 200, 1 << 20, 40,
                0, List.of(layer), layer);
        var scheduler = new SchedulerStats(9, 20, 16, 18, 7, 0, new long[0], new long[0], 0, 0, 0, 0, 0, 0, 0, 2, 3, 1,
                50, 64);
        ObjectNode json = LiveStats.json("m", "ready", scheduler, new StatsWindow.Figures(5, 3.5, 4.0, null), experts);
        assertEquals(0.75, json.at("/expert_cache/hit_rate").asDouble(), 1e-12);
        assertEquals(4096, json.at("/expert_cache/bytes_read").asLong());
        assertEquals(3, json.get("running").asInt());
        assertEquals(1, json.get("waiting").asInt());
        assertEquals(18, json.get("generated_tokens").asLong());
        assertEquals(3.5, json.get("tokens_per_second").asDouble(), 1e-12);
        assertEquals(4.0, json.get("mean_batch_size").asDouble(), 1e-12);
        assertTrue(json.get("last_batch_size").isNull());
        assertEquals(50, json.get("kv_free_blocks").asInt());
        assertEquals(64, json.get("kv_total_blocks").asInt());
        assertTrue(json.get("prefix_cache_hit_rate").isNull(), "nothing looked up yet");
    }

    @Test
    void thePrefixCacheFiguresAreTheSchedulers() {
        var scheduler = new SchedulerStats(9, 20, 16, 18, 7, 0, new long[0], new long[0], 0, 0, 0, 0, 0, 0, 0, 2, 3, 1,
                50, 64, 400, 96, 7);
        ObjectNode json = LiveStats.json("m", "ready", scheduler, new StatsWindow.Figures(5, 3.5, 4.0, null), null);
        assertEquals(7, json.get("kv_cached_blocks").asInt());
        assertEquals(400, json.get("prefix_cache_queried_tokens").asLong());
        assertEquals(96, json.get("prefix_cache_hit_tokens").asLong());
        assertEquals(0.24, json.get("prefix_cache_hit_rate").asDouble(), 1e-12);
    }
}
