package io.moeflow.loadgen;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.BufferedReader;
import java.io.StringReader;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

class LevelResultTest {
    private static final long MS = 1_000_000L;

    @Test
    void percentilesInterpolateLinearlyBetweenRanksLikeNumpy() {
        // numpy.percentile(range(1, 11), [50, 90, 99]) == [5.5, 9.1, 9.91]
        double[] oneToTen = {7, 1, 10, 3, 2, 9, 4, 8, 6, 5};
        Percentiles p = Percentiles.of(oneToTen);
        assertEquals(5.5, p.p50(), 1e-12);
        assertEquals(9.1, p.p90(), 1e-12);
        assertEquals(9.91, p.p99(), 1e-12);
        assertEquals(7, oneToTen[0], "the input is not sorted in place");
        // numpy.percentile([4], 90) == 4; numpy.percentile([0, 100], 99) == 99
        assertEquals(4, Percentiles.of(new double[] {4}).p90());
        assertEquals(99, Percentiles.of(new double[] {100, 0}).p99(), 1e-12);
        assertTrue(Double.isNaN(Percentiles.of(new double[0]).p50()));
        assertThrows(IllegalArgumentException.class, () -> Percentiles.quantile(new double[] {1}, 1.5));
    }

    @Test
    void levelCountsTokensOverWallTimeAndPoolsGapsOfSuccessfulRequests() {
        // request a: sent at 0, outputs at 100, 110, 130 ms; request b: sent at 50, outputs at 250, 270 ms
        RequestTrace a = new RequestTrace(0, new long[] {100 * MS, 110 * MS, 130 * MS}, 130 * MS, 3, 16, null);
        RequestTrace b = new RequestTrace(50 * MS, new long[] {250 * MS, 270 * MS}, 270 * MS, 2, 18, null);
        RequestTrace failed = RequestTrace.failed(60 * MS, "HTTP 429: busy");
        LevelResult r = LevelResult.of("http", 2, List.of(a, failed, b), 0, 500 * MS);
        assertEquals(3, r.requests());
        assertEquals(1, r.errors());
        assertEquals("HTTP 429: busy", r.firstError());
        assertEquals(5, r.tokens());
        assertEquals(0.5, r.wallSeconds(), 1e-12);
        assertEquals(10.0, r.aggregateTps(), 1e-9);
        assertEquals(17.0, r.meanPromptTokens(), 1e-12);
        assertEquals(2.5, r.meanTokensPerRequest(), 1e-12);
        // TTFT {100, 200}: p50 150, p90 190, p99 199; ITL {10, 20, 20}: p50 20
        assertEquals(150, r.ttftMs().p50(), 1e-9);
        assertEquals(190, r.ttftMs().p90(), 1e-9);
        assertEquals(20, r.itlMs().p50(), 1e-9);
        assertEquals(199, r.ttftMs().p99(), 1e-9);
    }

    @Test
    void tableAndJsonHaveOneRowPerLevel() throws Exception {
        RequestTrace a = new RequestTrace(0, new long[] {MS, 2 * MS}, 2 * MS, 2, -1, null);
        List<LevelResult> rows = List.of(LevelResult.of("kafka", 1, List.of(a), 0, 4 * MS),
                LevelResult.of("kafka", 4, List.of(RequestTrace.failed(0, "a \"quoted\"\nerror")), 0, MS));
        assertEquals(3, LevelResult.table(rows, Map.of()).lines().count());
        String compared = LevelResult.table(rows, Map.of(1, 400.0));
        assertTrue(compared.lines().skip(1).findFirst().orElseThrow().endsWith("125.0%"), compared);
        JsonNode json = new ObjectMapper().readTree(LevelResult.json(rows, Map.of(1, 400.0)));
        assertEquals(1.25, json.get(0).get("vs_engine").asDouble(), 1e-9);
        assertTrue(json.get(1).path("vs_engine").isMissingNode(), "no engine figure at concurrency 4");
        assertEquals(2, json.size());
        assertEquals(500.0, json.get(0).get("aggregate_tps").asDouble(), 1e-9);
        assertTrue(json.get(0).get("prompt_tokens").isNull(), "unknown prompt tokens are null, not NaN");
        assertEquals(1.0, json.get(0).at("/ttft_ms/p50").asDouble(), 1e-9);
        assertEquals("a \"quoted\"\nerror", json.get(1).get("first_error").asText());
        assertTrue(json.get(1).at("/itl_ms/p99").isNull());
    }

    @Test
    void sseStreamGivesOneArrivalPerOutputChunkAndTheUsageCounts() throws Exception {
        String body = """
                data: {"choices":[{"text":"Once","index":0,"finish_reason":null}],"usage":null}

                data: {"choices":[{"text":"","index":0,"finish_reason":null}],"usage":null}

                : a comment
                data: {"choices":[{"text":" upon","index":0,"finish_reason":"length"}],"usage":null}

                data: {"choices":[],"usage":{"prompt_tokens":5,"completion_tokens":3,"total_tokens":8}}

                data: [DONE]

                """;
        RequestTrace t = HttpTarget.readStream(new BufferedReader(new StringReader(body)), 0);
        assertNull(t.error());
        assertEquals(2, t.tokenNanos().length, "chunks with text or a finish reason");
        assertEquals(3, t.tokens(), "from usage, not from the chunks");
        assertEquals(5, t.promptTokens());
    }

    @Test
    void sseErrorsAndTruncatedStreamsAreErrors() throws Exception {
        String error = "data: {\"error\":{\"message\":\"boom\",\"type\":\"server_error\"}}\n\ndata: [DONE]\n\n";
        assertTrue(HttpTarget.readStream(new BufferedReader(new StringReader(error)), 0).error().contains("boom"));
        String truncated = "data: {\"choices\":[{\"text\":\"a\",\"finish_reason\":null}]}\n\n";
        assertEquals("stream closed before data: [DONE]",
                HttpTarget.readStream(new BufferedReader(new StringReader(truncated)), 0).error());
        String unfinished = "data: {\"choices\":[{\"text\":\"a\",\"finish_reason\":null}]}\n\ndata: [DONE]\n\n";
        assertEquals("stream ended without a finish_reason (last data: {\"choices\":[{\"text\":\"a\",\"finish_reason\":null}]}"
                        + " | [DONE])", HttpTarget.readStream(new BufferedReader(new StringReader(unfinished)), 0).error());
    }
}
