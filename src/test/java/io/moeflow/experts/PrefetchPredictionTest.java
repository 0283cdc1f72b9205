package io.moeflow.experts;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.moeflow.kernels.WorkerPool;
import io.moeflow.model.DecoderModel;
import io.moeflow.model.Logits;
import io.moeflow.model.Models;
import io.moeflow.model.StepStats;
import io.moeflow.testing.Golden;
import java.io.IOException;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * Prefetch predicts with the model's own routing: on every golden MoE file, the experts the store's predictor
 * ({@link ExpertRouting}, which the budgeted store calls for the next layer) chooses for a layer, given that
 * layer's true FFN input, are the experts routing chose there, token by token and in order; and those are
 * llama.cpp's choices ({@code router_topk} of the golden json, F32 files). Covers the router bias (gpt-oss), the
 * selection bias {@code exp_probs_b} and group-limited top-k (DeepSeek-V3), which the old predictor left out.
 */
class PrefetchPredictionTest {
    static WorkerPool pool;

    @BeforeAll
    static void start() {
        pool = new WorkerPool(2);
    }

    @AfterAll
    static void stop() {
        pool.close();
    }

    @ParameterizedTest
    @ValueSource(strings = {"mixtral-tiny-F32", "qwen3moe-tiny-F32", "qwen3moe-tiny-Q8_0", "qwen3moe-tiny-Q4_K_M",
            "deepseek2-lite-tiny-F32", "deepseek2-v3-tiny-F32", "gptoss-tiny-F32"})
    void predictionGivenTheTrueInputIsTheRoutedSet(String name) throws IOException {
        Golden g = Golden.of(name);
        JsonNode meta = g.meta();
        int[] tokens = g.tokens();
        try (DecoderModel m = Models.load(g.gguf(), pool, ExpertStoreConfig.budgeted("100%"))) {
            assertTrue(m.expertStore() != null, name + " is served from a store, which predicts with the model");
            Map<Integer, float[]> ffnInput = new HashMap<>();
            Map<Integer, List<int[]>> routed = new HashMap<>();
            StepStats stats = new StepStats();
            stats.routing = new StepStats.RoutingTrace() {
                @Override
                public void routed(int layer, int token, int[] experts, int from, int k) {
                    routed.computeIfAbsent(layer, l -> new ArrayList<>()).add(Arrays.copyOfRange(experts, from, from + k));
                }

                @Override
                public void ffnInput(int layer, float[] x, int n) {
                    ffnInput.put(layer, Arrays.copyOf(x, n * m.config().embeddingLength()));
                }
            };
            Logits.compute(m, tokens, false, stats);
            assertFalse(routed.isEmpty(), name + " routes");
            for (var e : routed.entrySet()) {
                int layer = e.getKey();
                int n = tokens.length, k = m.config().expertUsedCount();
                int[] predicted = new int[n * m.config().expertCount()];
                ExpertRouting routing = m; // what the store calls
                assertEquals(k, routing.route(layer, ffnInput.get(layer), n, predicted), name + " layer " + layer + ": experts per token");
                JsonNode llama = name.endsWith("F32") && meta.has("router_topk") ? meta.get("router_topk").get(String.valueOf(layer)) : null;
                for (int t = 0; t < n; t++) {
                    int[] p = Arrays.copyOfRange(predicted, t * k, t * k + k);
                    assertArrayEquals(e.getValue().get(t), p, name + " layer " + layer + " token " + t + ": predicted vs routed");
                    if (llama != null) {
                        int[] ref = new ObjectMapper().treeToValue(llama.get(t), int[].class);
                        assertArrayEquals(ref, p, name + " layer " + layer + " token " + t + ": predicted vs llama.cpp");
                    }
                }
            }
        }
    }
}
