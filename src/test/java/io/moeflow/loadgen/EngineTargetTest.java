package io.moeflow.loadgen;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.moeflow.experts.ExpertStoreConfig;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;

/** The engine-only baseline of loadgen, on the bundled stories260K model. */
class EngineTargetTest {
    static final Path MODEL = Path.of("models/stories260K/stories260K.gguf");

    @Test
    void closedLoopOnTheEngineGeneratesEveryRequestToItsLength() throws Exception {
        try (EngineTarget target = new EngineTarget(MODEL, 1, ExpertStoreConfig.RESIDENT, EngineTarget.SERVICE_DEFAULTS)) {
            RequestSpec spec = new RequestSpec("Once upon a time", 24, 0);
            RequestTrace one = target.send("solo", spec);
            assertNull(one.error());
            assertEquals(24, one.tokens(), "ignore_eos: exactly max tokens, even past end-of-text");
            assertEquals(24, one.tokenNanos().length, "one arrival per token");
            assertTrue(one.promptTokens() > 1, "the engine reports the prompt's tokens");
            assertTrue(one.ttftMs() >= 0 && one.tokenNanos()[23] <= one.doneNanos());

            LevelResult r = ClosedLoop.run(target, spec, 3, 7, "loop", (done, total, trace) -> {});
            assertEquals("engine", r.via());
            assertEquals(7, r.requests());
            assertEquals(0, r.errors(), String.valueOf(r.firstError()));
            assertEquals(7 * 24, r.tokens());
            assertTrue(r.aggregateTps() > 0);
            assertTrue(r.ttftMs().p50() <= r.wallSeconds() * 1000);
        }
    }
}
