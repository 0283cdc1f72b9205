package io.moeflow.scheduler;

import static org.junit.jupiter.api.Assertions.*;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.moeflow.experts.ExpertCacheStats;
import io.moeflow.experts.ExpertStoreConfig;
import io.moeflow.kernels.WorkerPool;
import io.moeflow.model.DecoderModel;
import io.moeflow.model.Models;
import io.moeflow.testing.TinySynthMoe;
import java.util.List;
import org.junit.jupiter.api.Test;

class ConcurrencyBenchTest {
    @Test
    void reportsEveryConcurrencyWithTheFiguresTheBenchNeeds() throws Exception {
        HistoryModel model = new HistoryModel(64, 128);
        int[] concurrencies = {1, 4};
        SchedulerConfig cfg = ConcurrencyBench.configFor(model, 8, 6, concurrencies);
        List<ConcurrencyBench.Result> results = ConcurrencyBench.run(model, cfg, 8, 6, concurrencies, 42);
        assertEquals(2, results.size());
        ConcurrencyBench.Result one = results.get(0), four = results.get(1);
        assertEquals(1, one.concurrency());
        assertEquals(4, four.concurrency());
        // the test model runs one expert per layer per token: alone, every decode token loads both layers' expert
        assertEquals(HistoryModel.LAYERS, one.expertLoadsPerToken(), 1e-9);
        assertTrue(four.expertLoadsPerToken() <= HistoryModel.LAYERS);
        assertEquals(0, four.preemptions(), "the configured KV memory holds all four");
        // 4 streams of 8 prompt tokens in one step, then 5 decode steps
        assertEquals(1 + 5, four.steps());
        for (var r : results) {
            assertTrue(r.aggregateTps() > 0 && r.perStreamTps() > 0 && r.prefillTps() > 0 && r.ttftMs() > 0 && r.wallTps() > 0, r.toString());
        }
        JsonNode json = new ObjectMapper().readTree(ConcurrencyBench.json(results));
        assertEquals(2, json.size());
        for (String field : List.of("concurrency", "aggregate_tps", "per_stream_tps", "prefill_tps", "ttft_ms", "expert_loads_per_token", "wall_tps")) {
            assertTrue(json.get(1).get(field).isNumber(), field);
        }
        assertEquals(4, json.get(1).get("concurrency").asInt());
        String table = ConcurrencyBench.table(results);
        assertEquals(3, table.lines().count());
        assertTrue(table.contains("aggregate t/s"));
    }

    @Test
    void aSharedPrefixIsServedFromThePrefixCacheAfterTheWarmUpAndRecomputedWithoutIt() throws Exception {
        HistoryModel model = new HistoryModel(64, 256);
        int shared = 40, prompt = 8, gen = 4;
        int[] concurrencies = {3};
        SchedulerConfig cfg = ConcurrencyBench.configFor(model, shared + prompt, gen, concurrencies);
        ConcurrencyBench.Result on = ConcurrencyBench.run(model, cfg, shared, false, prompt, gen, concurrencies, 42).getFirst();
        ConcurrencyBench.Result off = ConcurrencyBench.run(model, cfg.withPrefixCache(false), shared, false, prompt, gen,
                concurrencies, 42).getFirst();
        ConcurrencyBench.Result cold = ConcurrencyBench.run(model, cfg, shared, true, prompt, gen, concurrencies, 42).getFirst();
        assertEquals(2L * 32, cold.prefixHitTokens(), "a new prefix: the first computes it, the other two share it");
        assertEquals(3L * (shared + prompt), on.prefixQueriedTokens());
        assertEquals(3L * 32, on.prefixHitTokens(), "the prefix's two full blocks, cached by the warm-up");
        assertEquals(0, off.prefixQueriedTokens());
        assertEquals(0, off.prefixHitTokens());
        JsonNode json = new ObjectMapper().readTree(ConcurrencyBench.json(List.of(on)));
        assertEquals(shared, json.get(0).get("shared_prefix_tokens").asInt());
        assertEquals(96, json.get(0).get("prefix_hit_tokens").asLong());
        assertEquals(144, json.get(0).get("prefix_queried_tokens").asLong());
        assertTrue(ConcurrencyBench.table(List.of(on)).contains("66.7%"), ConcurrencyBench.table(List.of(on)));
    }

    @Test
    void aBudgetedModelReportsEachRoundsExpertCacheCounters() throws Exception {
        int prompt = 8, gen = 4;
        int[] concurrencies = {1, 3};
        try (WorkerPool pool = new WorkerPool(1);
             DecoderModel model = Models.load(TinySynthMoe.path(), pool, ExpertStoreConfig.budgeted("25%"))) {
            List<ConcurrencyBench.Result> results = ConcurrencyBench.run(model,
                    ConcurrencyBench.configFor(model, prompt, gen, concurrencies), prompt, gen, concurrencies, 42);
            JsonNode json = new ObjectMapper().readTree(ConcurrencyBench.json(results));
            for (int i = 0; i < results.size(); i++) {
                ConcurrencyBench.Result r = results.get(i);
                ExpertCacheStats e = r.expertCache();
                assertNotNull(e, "a budgeted model has expert cache counters");
                // every expert a step runs is looked up once: a hit or a miss; a count that took in the warm-up
                // or another round would be larger than this round's lookups
                assertTrue(r.expertLookups() > 0, r.toString());
                assertEquals(r.expertLookups(), e.total().hits() + e.total().misses(), r.toString());
                // the round's tokens through the model: c prompts, then c·(G−1) generated tokens fed back
                assertEquals((long) r.concurrency() * (prompt + gen - 1), e.tokens());
                // 25 % of 16 experts is 4 slots; a prompt of 8 random tokens routes to more than that per layer
                assertTrue(e.total().misses() > 0 && e.total().bytesRead() > 0, e.summary());
                assertEquals(e.total().bytesRead() / (double) e.tokens(), e.bytesPerToken(), 1e-9);

                JsonNode cache = json.get(i).get("expert_cache");
                assertEquals(r.expertLookups(), json.get(i).get("expert_lookups").asLong());
                assertEquals(e.total().hits(), cache.get("hits").asLong());
                assertEquals(e.total().misses(), cache.get("misses").asLong());
                for (String field : List.of("hit_rate", "bytes_per_token", "read_bytes_per_second", "io_wait_ms", "prefetch_accuracy")) {
                    assertTrue(cache.get(field).isNumber(), field);
                }
                assertEquals(e.total().hitRate(), cache.get("hit_rate").asDouble(), 1e-3);
            }
            String table = ConcurrencyBench.table(results);
            assertTrue(table.lines().findFirst().orElseThrow().contains("hit rate"), table);
            assertTrue(table.contains("prefetch ok"), table);
        }
    }

    @Test
    void aResidentModelHasNoExpertCacheColumns() throws Exception {
        HistoryModel model = new HistoryModel(64, 128);
        int[] one = {1};
        var results = ConcurrencyBench.run(model, ConcurrencyBench.configFor(model, 4, 3, one), 4, 3, one, 1);
        assertNull(results.getFirst().expertCache());
        assertTrue(new ObjectMapper().readTree(ConcurrencyBench.json(results)).get(0).get("expert_cache").isNull());
        assertFalse(ConcurrencyBench.table(results).contains("hit rate"));
    }
}
