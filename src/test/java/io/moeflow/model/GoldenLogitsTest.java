package io.moeflow.model;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import io.moeflow.kernels.WorkerPool;
import io.moeflow.testing.Golden;
import java.io.IOException;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * The forward pass against llama.cpp's logits for the golden models of the architectures moeflow runs:
 * batch and decode mode within 1e-4 (F32 files against {@code logits.f32}, quantized files against the
 * exact-dequantization reference), and every MoE router choice equal to llama.cpp's for F32 files.
 */
class GoldenLogitsTest {
    static final float TOLERANCE = 1e-4f;
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
    @ValueSource(strings = {"llama-dense-F32", "llama-dense-Q8_0", "llama-dense-Q4_K_M", "mixtral-tiny-F32",
            "qwen3moe-tiny-F32", "qwen3moe-tiny-Q8_0", "qwen3moe-tiny-Q4_K_M",
            "deepseek2-lite-tiny-F32", "deepseek2-v3-tiny-F32", "gptoss-tiny-F32"})
    void matchesLlamaCpp(String name) throws IOException {
        Golden g = Golden.of(name);
        JsonNode meta = g.meta();
        int[] tokens = g.tokens();
        boolean quantized = g.quantized();
        float[] expected = g.referenceLogits();

        List<int[]>[] routes = routeLists(meta);
        try (DecoderModel m = Models.load(g.gguf(), pool)) {
            assertEquals(meta.get("n_vocab").asInt(), m.info().vocabSize());
            StepStats stats = new StepStats();
            stats.routing = (layer, token, experts, from, k) -> {
                if (routes != null) routes[layer].add(java.util.Arrays.copyOfRange(experts, from, from + k));
            };
            float[] batch = Logits.compute(m, tokens, false, stats);
            assertClose(expected, batch, name + " batch");
            float[] decode = Logits.compute(m, tokens, true, null);
            assertClose(expected, decode, name + " decode");
            if (!quantized && meta.has("router_topk")) {
                var it = meta.get("router_topk").fields();
                while (it.hasNext()) {
                    var e = it.next();
                    int layer = Integer.parseInt(e.getKey());
                    JsonNode perPos = e.getValue();
                    assertEquals(perPos.size(), routes[layer].size(), "routed tokens in layer " + layer);
                    for (int p = 0; p < perPos.size(); p++)
                        assertArrayEquals(Golden.ints(perPos.get(p)), routes[layer].get(p), name + " layer " + layer + " position " + p);
                }
            }
        }
    }

    @SuppressWarnings("unchecked")
    private static List<int[]>[] routeLists(JsonNode meta) {
        int layers = 64;
        List<int[]>[] r = new List[layers];
        for (int i = 0; i < layers; i++) r[i] = new ArrayList<>();
        return r;
    }

    static void assertClose(float[] expected, float[] actual, String what) {
        assertEquals(expected.length, actual.length, what + ": logits count");
        float max = 0;
        int at = -1;
        for (int i = 0; i < expected.length; i++) {
            float d = Math.abs(expected[i] - actual[i]);
            if (!(d <= max)) {
                max = d;
                at = i;
            }
        }
        final float worst = max;
        final int where = at;
        assertTrue(worst <= TOLERANCE, () -> what + ": max |diff| " + worst + " at index " + where + " > " + TOLERANCE);
    }
}
