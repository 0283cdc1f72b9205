package io.moeflow.scheduler;

import static org.junit.jupiter.api.Assertions.*;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
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
}
