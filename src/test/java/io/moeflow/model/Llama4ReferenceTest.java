package io.moeflow.model;

import static io.moeflow.model.Float64ReferenceArchitecturesTest.MOVED;
import static io.moeflow.model.Float64ReferenceArchitecturesTest.TOLERANCE;
import static io.moeflow.model.Float64ReferenceArchitecturesTest.logits;
import static io.moeflow.model.Float64ReferenceArchitecturesTest.maxDiff;
import static io.moeflow.model.Float64ReferenceArchitecturesTest.reference;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.moeflow.gguf.GgufFile;
import io.moeflow.gguf.GgufSummary;
import io.moeflow.gguf.GgufValue;
import io.moeflow.kernels.WorkerPool;
import io.moeflow.model.arch.Llama4Model;
import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.function.Consumer;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * llama4 against the independent float64 pass of src/test/resources/reference/moe_archs_f64.py (written from
 * llama.cpp's src/models/llama4.cpp), as {@link Float64ReferenceArchitecturesTest} checks the other architectures:
 * the tiny Scout- and Maverick-shaped files of {@link TinyArchFiles}, batch and decode. llama.cpp fixes the chunk size
 * and the temperature step at 8192, which 24 tokens never reach, so the reference was computed with chunks of 8 and a
 * temperature step of 4 (the JSON record keeps them) and the model is built with the same {@link Llama4Model.Tuning};
 * a second reference at llama.cpp's constants checks the model {@link Models#load} builds.
 *
 * <p>Each reference-side mutation ({@code moe_archs_f64.py --mutate llama4-...}, logits committed beside the right
 * ones) computes llama4 without one feature (weight after the FFN, q/k L2 norm flipped, RoPE on the NoPE layers, no
 * chunks, no temperature, softmax routing, no shared expert) and must be far from the engine; the engine-side ones
 * change the file or the tuning and must move the engine far from the reference.
 *
 * <p>To regenerate: run this test with {@code -Dmoeflow.tinyarch.dir=DIR}, then for each NAME in llama4,
 * llama4-maverick {@code moe_archs_f64.py DIR/NAME-tiny.gguf --tokens <token_ids> --llama4-chunk 8 --llama4-temp-floor 4
 * --out NAME.logits.f32 --json NAME.json}, the same without the two llama4 options to {@code
 * NAME.llamacpp-constants.logits.f32}, and with {@code --mutate llama4-M} to {@code NAME.M.logits.f32}.
 */
class Llama4ReferenceTest {
    static final List<String> NAMES = List.of("llama4", "llama4-maverick");
    static final List<String> REFERENCE_MUTATIONS = List.of("weight-after-ffn", "flip-qk-l2-norm", "rope-on-every-layer", "no-chunks",
            "no-temperature", "softmax-routing", "no-shared-expert");

    static WorkerPool pool;
    @TempDir Path dir;

    @BeforeAll
    static void start() {
        pool = new WorkerPool(2);
    }

    @AfterAll
    static void stop() {
        pool.close();
    }

    /** The chunk size and temperature step the reference of {@code name} was computed with. */
    static Llama4Model.Tuning tuning(String name) throws IOException {
        JsonNode j;
        try (InputStream in = Llama4ReferenceTest.class.getResourceAsStream("/reference/" + name + ".json")) {
            j = new ObjectMapper().readTree(in);
        }
        JsonNode t = j.get("llama4_tuning");
        return new Llama4Model.Tuning(t.get("chunk_size").asInt(), t.get("temperature_floor").asInt());
    }

    static DecoderModel load(Path file, Llama4Model.Tuning tuning) {
        GgufFile f = GgufFile.open(file);
        try {
            return new Llama4Model(f, pool, tuning);
        } catch (RuntimeException e) {
            f.close();
            throw e;
        }
    }

    @ParameterizedTest
    @ValueSource(strings = {"llama4", "llama4-maverick"})
    void logitsMatchTheFloat64Reference(String name) throws IOException {
        Path file = Float64ReferenceArchitecturesTest.writeAndCheck(name, dir);
        Float64ReferenceArchitecturesTest.Reference ref = reference(name);
        Llama4Model.Tuning tuning = tuning(name);
        assertTrue(tuning.chunkSize() < ref.tokens().length && tuning.temperatureFloor() < ref.tokens().length, "the reference crosses chunks");
        try (DecoderModel m = load(file, tuning)) {
            Float64ReferenceArchitecturesTest.assertMatchesTheReference(name, m, ref);
        }
    }

    /** Models.load builds llama.cpp's constants (chunks of 8192: none within 24 tokens, temperature 1). */
    @ParameterizedTest
    @ValueSource(strings = {"llama4", "llama4-maverick"})
    void theLoadedModelUsesLlamaCppsConstants(String name) throws IOException {
        Float64ReferenceArchitecturesTest.Reference ref = reference(name);
        float[] atLlamaCpp = logits(name + ".llamacpp-constants.logits.f32");
        try (DecoderModel m = Models.load(TinyArchFiles.write(name, dir, t -> {}), pool)) {
            float[] engine = Logits.compute(m, ref.tokens(), false, null);
            float right = maxDiff(atLlamaCpp, engine), tuned = maxDiff(ref.logits(), engine);
            assertTrue(right < TOLERANCE, () -> name + ": max |engine - reference at llama.cpp's constants| " + right);
            assertTrue(tuned > MOVED, () -> name + ": the short chunks and temperature steps moved the logits only " + tuned);
        }
    }

    static Stream<Arguments> referenceMutations() {
        return NAMES.stream().flatMap(n -> REFERENCE_MUTATIONS.stream().map(m -> Arguments.of(n, m)));
    }

    @ParameterizedTest(name = "{0}: reference with {1}")
    @MethodSource("referenceMutations")
    void theReferenceWithoutAFeatureIsFarFromTheEngine(String name, String mutation) throws IOException {
        Float64ReferenceArchitecturesTest.Reference ref = reference(name);
        float[] wrong = logits(name + "." + mutation + ".logits.f32");
        try (DecoderModel m = load(TinyArchFiles.write(name, dir, t -> {}), tuning(name))) {
            float[] engine = Logits.compute(m, ref.tokens(), false, null);
            float right = maxDiff(ref.logits(), engine), d = maxDiff(wrong, engine);
            assertTrue(right < TOLERANCE, () -> name + ": max |engine - reference| " + right);
            assertTrue(d > MOVED, () -> name + ": the reference with " + mutation + " is only " + d + " from the engine");
        }
    }

    static Stream<Arguments> engineMutations() {
        Llama4Model.Tuning none = null;
        return Stream.of(
                Arguments.of("llama4", "no rope_freqs", (Consumer<TinyArchFiles>) t -> t.drop("rope_freqs"), none),
                Arguments.of("llama4", "chunks of 16", (Consumer<TinyArchFiles>) t -> {}, new Llama4Model.Tuning(16, 4)),
                Arguments.of("llama4", "temperature step 8", (Consumer<TinyArchFiles>) t -> {}, new Llama4Model.Tuning(8, 8)),
                Arguments.of("llama4-maverick", "the default chunk pattern (3 chunked, 1 full)",
                        (Consumer<TinyArchFiles>) t -> t.kv.remove("llama4.attention.sliding_window_pattern"), none),
                Arguments.of("llama4-maverick", "no rope.freq_base_swa", (Consumer<TinyArchFiles>) t -> t.kv.remove("llama4.rope.freq_base_swa"), none));
    }

    @ParameterizedTest(name = "{0}: {1}")
    @MethodSource("engineMutations")
    void everyFeatureMovesTheLogits(String name, String what, Consumer<TinyArchFiles> change, Llama4Model.Tuning other) throws IOException {
        Float64ReferenceArchitecturesTest.Reference ref = reference(name);
        try (DecoderModel m = load(TinyArchFiles.write(name, dir, change), other != null ? other : tuning(name))) {
            float d = maxDiff(ref.logits(), Logits.compute(m, ref.tokens(), false, null));
            assertTrue(d > MOVED, () -> name + " with " + what + ": logits moved only " + d + " from the reference");
        }
    }

    /** The routed experts served from a RAM-budgeted store (a quarter of them at a time) give the reference logits too. */
    @ParameterizedTest
    @ValueSource(strings = {"llama4", "llama4-maverick"})
    void budgetedExpertsGiveTheReferenceLogits(String name) throws IOException {
        Float64ReferenceArchitecturesTest.Reference ref = reference(name);
        try (DecoderModel m = load(TinyArchFiles.write(name, dir, t -> {}), tuning(name))) {
            assertTrue(m.attachExpertStore(io.moeflow.experts.ExpertStoreConfig.budgeted("25%")) != null, name);
            float b = maxDiff(ref.logits(), Logits.compute(m, ref.tokens(), false, null));
            float d = maxDiff(ref.logits(), Logits.compute(m, ref.tokens(), true, null));
            assertTrue(b < TOLERANCE && d < TOLERANCE, () -> name + " budgeted: max |engine - reference| batch " + b + ", decode " + d);
            assertTrue(m.expertStore().stats().total().misses() > 0, () -> name + ": " + m.expertStore().stats().summary());
        }
    }

    @ParameterizedTest
    @ValueSource(strings = {"llama4", "llama4-maverick"})
    void inspectReportsTheFileSupported(String name) throws IOException {
        try (GgufFile f = GgufFile.open(TinyArchFiles.write(name, dir, t -> {}))) {
            String s = GgufSummary.describe(f);
            assertTrue(s.contains("\nsupported: yes\n"), s);
        }
    }

    @Test
    void theLayerPlanIsLlamaCpps() throws IOException {
        try (DecoderModel m = Models.load(TinyArchFiles.write("llama4-maverick", dir, t -> {}), pool)) {
            List<DecoderModel.Layer> layers = m.layers();
            assertEquals(4, layers.size());
            for (int l = 0; l < 4; l++) // interleave_moe_layer_step 2: layers 1 and 3 MoE
                assertEquals(l % 2 == 1, layers.get(l).ffn() instanceof io.moeflow.model.blocks.MoeFfn, "blk." + l);
        }
    }

    static void assertRefused(Consumer<TinyArchFiles> change, String... mentions) throws IOException {
        Path file = TinyArchFiles.write("llama4", Files.createTempDirectory("refused"), change);
        RuntimeException e = assertThrows(RuntimeException.class, () -> Models.load(file, pool).close()); // a missing tensor: GgufException
        for (String m : mentions) assertTrue(e.getMessage().contains(m), () -> "'" + e.getMessage() + "' does not name " + m);
    }

    @Test
    void keysAndTensorsTheGraphContradictsAreRefusedByName() throws IOException {
        assertRefused(t -> t.u32("attention.sliding_window", 0), "llama4.attention.sliding_window", "aborts");
        assertRefused(t -> t.u32("attention.sliding_window", 4096), "llama4.attention.sliding_window = 4096");
        assertRefused(t -> t.kv.put("llama4.attention.sliding_window_pattern", GgufValue.ofInt32Array(1, 1, 1, 0)),
                "llama4.attention.sliding_window_pattern");
        assertRefused(t -> t.u32("expert_gating_func", 1), "llama4.expert_gating_func");
        assertRefused(t -> t.bool("expert_weights_norm", true), "llama4.expert_weights_norm");
        assertRefused(t -> t.f32("expert_weights_scale", 2.5f), "llama4.expert_weights_scale");
        assertRefused(t -> t.f32("attention.scale", 0.3f), "llama4.attention.scale");
        assertRefused(t -> t.f32("attention.temperature_scale", 0.1f), "llama4.attention.temperature_scale");
        assertRefused(t -> t.u32("leading_dense_block_count", 1), "llama4.leading_dense_block_count");
        assertRefused(t -> t.u32("expert_shared_count", 2), "llama4.expert_shared_count");
        assertRefused(t -> t.kv.remove("llama4.interleave_moe_layer_step"), "llama4.interleave_moe_layer_step");
        assertRefused(t -> t.u32("rope.dimension_count", 4), "llama4.rope.dimension_count");
        assertRefused(t -> t.drop("blk.2.ffn_up_shexp"), "blk.2.ffn_up_shexp");
        assertRefused(t -> t.tensor("blk.1.attn_output.bias", 0.3, 0, TinyArchFiles.EMBD), "blk.1.attn_output.bias");
        assertRefused(t -> t.tensor("blk.1.exp_probs_b.bias", 0.3, 0, 8), "blk.1.exp_probs_b.bias");
        assertRefused(t -> t.tensor("blk.1.attn_q_norm.weight", 0.1, 1, TinyArchFiles.LLAMA4_HEAD_DIM), "blk.1.attn_q_norm.weight");
    }

    /** qwen3next is skipped (README): inspect and the loader both say so and why. */
    @Test
    void qwen3nextIsReportedUnsupportedWithTheReason() throws IOException {
        Path file = TinyArchFiles.write("llama4", dir, t -> {
            t.kv.put("general.architecture", GgufValue.ofString("qwen3next"));
            t.kv.put("qwen3next.block_count", GgufValue.ofUInt32(4));
        });
        try (GgufFile f = GgufFile.open(file)) {
            String s = GgufSummary.describe(f);
            assertTrue(s.contains("\nsupported: no — architecture qwen3next is not supported: its Gated DeltaNet linear-attention layers"), s);
        }
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> Models.load(file, pool).close());
        assertTrue(e.getMessage().contains("architecture qwen3next is not supported: its Gated DeltaNet linear-attention layers need a recurrent state"),
                e.getMessage());
    }
}
