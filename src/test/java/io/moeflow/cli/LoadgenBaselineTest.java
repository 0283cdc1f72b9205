package io.moeflow.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** loadgen's --baseline: its own --via engine rows (aggregate_tps) or bench --concurrency's list (wall_tps). */
class LoadgenBaselineTest {
    @TempDir
    Path dir;

    @Test
    void readsEngineRowsOfLoadgenAndBenchRows() throws Exception {
        Path loadgen = Files.writeString(dir.resolve("engine.json"), """
                [{"via": "engine", "concurrency": 1, "aggregate_tps": 72.3, "wall_tps": 1.0},
                 {"via": "engine", "concurrency": 16, "aggregate_tps": 147.9}]""");
        assertEquals(Map.of(1, 72.3, 16, 147.9), LoadgenCommand.engineTps(loadgen));
        Path bench = Files.writeString(dir.resolve("bench.json"), """
                [{"concurrency": 4, "aggregate_tps": 108.9, "wall_tps": 80.6}]""");
        assertEquals(Map.of(4, 80.6), LoadgenCommand.engineTps(bench));
        Path bad = Files.writeString(dir.resolve("bad.json"), "[{\"via\": \"engine\", \"concurrency\": 1}]");
        var e = assertThrows(IllegalArgumentException.class, () -> LoadgenCommand.engineTps(bad));
        assertTrue(e.getMessage().contains("aggregate_tps"), e.getMessage());
    }
}
