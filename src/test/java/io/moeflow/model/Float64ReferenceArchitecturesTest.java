package io.moeflow.model;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.moeflow.gguf.GgufFile;
import io.moeflow.gguf.GgufSummary;
import io.moeflow.gguf.GgufValue;
import io.moeflow.kernels.WorkerPool;
import java.io.IOException;
import java.io.InputStream;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.HashSet;
import java.util.HexFormat;
import java.util.Set;
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
 * glm4moe, dots1, ernie4_5-moe, bailingmoe2, hunyuan-moe, granitemoe and deepseek2 with Kimi-K2's metadata against an independent float64 forward pass written from
 * llama.cpp's graphs (src/test/resources/reference/moe_archs_f64.py): the tiny files of {@link TinyArchFiles}, the
 * logits that script computed from them (committed beside it, with the file's SHA-256 so a changed generator
 * cannot go unnoticed), batch and decode. Each mutation removes one feature of the architecture from the file
 * (full instead of partial RoPE, no shared expert, no selection bias, softmax instead of sigmoid, ...) and must move
 * the logits far beyond the tolerance: the reference comparison sees every one of them.
 */
class Float64ReferenceArchitecturesTest {
    /** float32 engine vs float64 reference over two or three layers (measured: under 4e-6). */
    static final float TOLERANCE = 5e-5f;
    /** A mutation must move some logit by at least this much. */
    static final float MOVED = 50 * TOLERANCE;

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

    record Reference(int[] tokens, String sha256, float[] logits) {}

    static Reference reference(String name) throws IOException {
        JsonNode j;
        try (InputStream in = Float64ReferenceArchitecturesTest.class.getResourceAsStream("/reference/" + name + ".json")) {
            j = new ObjectMapper().readTree(in);
        }
        return new Reference(new ObjectMapper().treeToValue(j.get("token_ids"), int[].class), j.get("model_sha256").asText(),
                logits(name + ".logits.f32"));
    }

    /** A committed little-endian float32 logits file under /reference/. */
    static float[] logits(String file) throws IOException {
        byte[] raw;
        try (InputStream in = Float64ReferenceArchitecturesTest.class.getResourceAsStream("/reference/" + file)) {
            raw = in.readAllBytes();
        }
        float[] f = new float[raw.length / 4];
        ByteBuffer.wrap(raw).order(ByteOrder.LITTLE_ENDIAN).asFloatBuffer().get(f);
        return f;
    }

    static String sha256(Path file) throws IOException {
        try {
            return HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(Files.readAllBytes(file)));
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }

    static float maxDiff(float[] a, float[] b) {
        assertEquals(a.length, b.length, "logits count");
        float max = 0;
        for (int i = 0; i < a.length; i++) max = Math.max(max, Math.abs(a[i] - b[i]));
        return max;
    }

    @ParameterizedTest
    @ValueSource(strings = {"glm4moe", "dots1", "ernie4_5-moe", "bailingmoe2", "hunyuan-moe", "granitemoe", "kimi-k2"})
    void logitsMatchTheFloat64Reference(String name) throws IOException {
        Path file = writeAndCheck(name, dir);
        try (DecoderModel m = Models.load(file, pool)) {
            assertMatchesTheReference(name, m, reference(name));
        }
    }

    /**
     * The tiny file of {@code name}, checked to be the one its reference logits were computed from (with
     * {@code -Dmoeflow.tinyarch.dir=DIR} also copied there, to regenerate the reference).
     */
    static Path writeAndCheck(String name, Path dir) throws IOException {
        Path file = TinyArchFiles.write(name, dir, t -> {});
        String keep = System.getProperty("moeflow.tinyarch.dir");
        if (keep != null) Files.copy(file, Files.createDirectories(Path.of(keep)).resolve(file.getFileName()), java.nio.file.StandardCopyOption.REPLACE_EXISTING);
        assertEquals(reference(name).sha256(), sha256(file), name + ": the tiny file is not the one the reference logits were computed from");
        return file;
    }

    /** Batch and decode logits of {@code m} within {@link #TOLERANCE} of the reference, routing over several experts. */
    static void assertMatchesTheReference(String name, DecoderModel m, Reference ref) {
        Set<Integer> experts = new HashSet<>();
        StepStats stats = new StepStats();
        stats.routing = (layer, token, selected, from, k) -> { for (int i = from; i < from + k; i++) experts.add(selected[i]); };
        float[] batch = Logits.compute(m, ref.tokens(), false, stats);
        float[] decode = Logits.compute(m, ref.tokens(), true, null);
        float b = maxDiff(ref.logits(), batch), d = maxDiff(ref.logits(), decode);
        assertTrue(b < TOLERANCE, () -> name + ": batch max |engine - float64 reference| " + b);
        assertTrue(d < TOLERANCE, () -> name + ": decode max |engine - float64 reference| " + d);
        assertTrue(experts.size() >= Math.min(8, m.info().expertCount() - 1), () -> name + ": routing used only experts " + experts);
    }

    static Stream<Arguments> mutations() {
        return Stream.of(
                mutation("glm4moe", "full RoPE instead of partial", t -> t.u32("rope.dimension_count", TinyArchFiles.GLM_HEAD_DIM)),
                mutation("glm4moe", "no shared expert", t -> t.u32("expert_shared_count", 0).drop("_shexp")),
                mutation("glm4moe", "no selection bias", t -> zero(t, "exp_probs_b")),
                mutation("glm4moe", "softmax instead of sigmoid", t -> t.u32("expert_gating_func", 1)),
                mutation("glm4moe", "no q/k norm", t -> t.drop("attn_q_norm").drop("attn_k_norm")),
                mutation("glm4moe", "no attention biases", t -> t.drop("attn_q.bias").drop("attn_k.bias").drop("attn_v.bias")),
                mutation("glm4moe", "no expert weight scale", t -> t.f32("expert_weights_scale", 1f)),
                mutation("dots1", "no shared experts", t -> t.u32("expert_shared_count", 0).drop("_shexp")),
                mutation("dots1", "no selection bias", t -> t.drop("exp_probs_b")),
                mutation("dots1", "softmax instead of sigmoid", t -> t.u32("expert_gating_func", 1)),
                mutation("dots1", "weights not renormalised", t -> t.bool("expert_weights_norm", false)),
                mutation("ernie4_5-moe", "no shared expert", t -> t.u32("expert_shared_feed_forward_length", 0).drop("_shexp")),
                mutation("ernie4_5-moe", "no selection bias", t -> t.drop("exp_probs_b")),
                mutation("bailingmoe2", "full RoPE instead of partial", t -> t.u32("rope.dimension_count", 8)),
                mutation("bailingmoe2", "no expert groups", t -> t.u32("expert_group_count", 0).u32("expert_group_used_count", 0)),
                mutation("bailingmoe2", "no shared expert", t -> t.u32("expert_shared_count", 0).drop("_shexp")),
                mutation("bailingmoe2", "softmax instead of sigmoid", t -> t.u32("expert_gating_func", 1)),
                mutation("hunyuan-moe", "no shared MLP", t -> t.drop("_shexp").u32("expert_shared_feed_forward_length", 0).u32("feed_forward_length", 0)),
                mutation("granitemoe", "no embedding scale", t -> t.f32("embedding_scale", 0f)),
                mutation("granitemoe", "no residual scale", t -> t.f32("residual_scale", 0f)),
                mutation("granitemoe", "no logit scale", t -> t.f32("logit_scale", 1f)),
                mutation("granitemoe", "1/sqrt(head_dim) instead of attention.scale", t -> t.f32("attention.scale", 0f)),
                mutation("granitemoe", "no RoPE (rope.scaling.finetuned false)", t -> t.bool("rope.scaling.finetuned", false)),
                mutation("granitemoe", "no output bias", t -> t.drop("attn_output.bias")),
                mutation("kimi-k2", "no YaRN", t -> t.kv.put("deepseek2.rope.scaling.type", GgufValue.ofString("none"))),
                mutation("kimi-k2", "no shared expert", t -> t.u32("expert_shared_count", 0).drop("_shexp")),
                mutation("kimi-k2", "no selection bias", t -> zero(t, "exp_probs_b")),
                mutation("kimi-k2", "softmax instead of sigmoid", t -> t.u32("expert_gating_func", 1)),
                mutation("kimi-k2", "expert groups (4, best 1) instead of 1", t -> t.u32("expert_group_count", 4)),
                mutation("kimi-k2", "no expert weight scale", t -> t.f32("expert_weights_scale", 1f)));
    }

    static Arguments mutation(String name, String what, Consumer<TinyArchFiles> change) {
        return Arguments.of(name, what, change);
    }

    static TinyArchFiles zero(TinyArchFiles t, String part) {
        t.values.forEach((k, v) -> { if (k.contains(part)) java.util.Arrays.fill(v, 0f); });
        return t;
    }

    @ParameterizedTest(name = "{0}: {1}")
    @MethodSource("mutations")
    void everyFeatureMovesTheLogits(String name, String what, Consumer<TinyArchFiles> change) throws IOException {
        Reference ref = reference(name);
        Path file = TinyArchFiles.write(name, dir, change);
        try (DecoderModel m = Models.load(file, pool)) {
            float d = maxDiff(ref.logits(), Logits.compute(m, ref.tokens(), false, null));
            assertTrue(d > MOVED, () -> name + " with " + what + ": logits moved only " + d + " from the reference");
        }
    }

    @ParameterizedTest
    @ValueSource(strings = {"glm4moe", "dots1", "ernie4_5-moe", "bailingmoe2", "hunyuan-moe", "granitemoe", "kimi-k2"})
    void inspectReportsTheFileSupported(String name) throws IOException {
        Path file = TinyArchFiles.write(name, dir, t -> {});
        try (GgufFile f = GgufFile.open(file)) {
            String s = GgufSummary.describe(f);
            assertTrue(s.contains("\nsupported: yes\n"), s);
        }
    }

    static void assertRefused(String name, Consumer<TinyArchFiles> change, String... mentions) throws IOException {
        Path file = TinyArchFiles.write(name, Files.createTempDirectory("refused"), change);
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> Models.load(file, pool).close());
        for (String m : mentions) assertTrue(e.getMessage().contains(m), () -> "'" + e.getMessage() + "' does not name " + m);
    }

    @Test
    void keysAndTensorsMoeflowDoesNotImplementAreRefusedByName() throws IOException {
        assertRefused("glm4moe", t -> t.kv.put("glm4moe.rope.dimension_sections",
                GgufValue.ofInt32Array(4, 4, 0, 0)), "glm4moe.rope.dimension_sections");
        assertRefused("glm4moe", t -> t.tensor("blk.1.attn_output.bias", 0.3, 0, TinyArchFiles.EMBD), "blk.1.attn_output.bias");
        assertRefused("glm4moe", t -> t.drop("blk.2.exp_probs_b"), "blk.2.exp_probs_b.bias");
        assertRefused("glm4moe", t -> t.u32("expert_gating_func", 5), "glm4moe.expert_gating_func");
        assertRefused("glm4moe", t -> t.drop("blk.1.attn_k_norm"), "attn_k_norm");
        assertRefused("dots1", t -> t.kv.remove("dots1.expert_gating_func"), "dots1.expert_gating_func");
        assertRefused("dots1", t -> t.u32("attention.head_count_kv", 2), "dots1.attention.head_count_kv");
        assertRefused("dots1", t -> t.drop("output.weight"), "output.weight");
        assertRefused("bailingmoe2", t -> t.tensor("blk.1.attn_qkv.bias", 0.3, 0, 64), "blk.1.attn_qkv.bias");
        assertRefused("bailingmoe2", t -> t.kv.remove("bailingmoe2.expert_gating_func"), "bailingmoe2.expert_gating_func");
        assertRefused("ernie4_5-moe", t -> t.tensor("blk.0.attn_output.bias", 0.3, 0, TinyArchFiles.EMBD), "blk.0.attn_output.bias");
        assertRefused("ernie4_5-moe", t -> t.tensor("blk.1.attn_q_norm.weight", 0.1, 1, 8), "blk.1.attn_q_norm.weight");
        assertRefused("ernie4_5-moe", t -> t.u32("interleave_moe_layer_step", 2), "ernie4_5-moe.interleave_moe_layer_step");
    }

    @ParameterizedTest
    @ValueSource(strings = {"glm4moe", "dots1", "ernie4_5-moe", "hunyuan-moe"})
    void aFusedAttnQkvGivesTheSameLogits(String name) throws IOException {
        Reference ref = reference(name);
        Path file = TinyArchFiles.write(name, dir, TinyArchFiles::fuseQkv);
        try (GgufFile f = GgufFile.open(file)) {
            assertTrue(f.findTensor("blk.1.attn_qkv.weight").isPresent() && f.findTensor("blk.1.attn_q.weight").isEmpty());
        }
        try (DecoderModel m = Models.load(file, pool)) {
            float d = maxDiff(ref.logits(), Logits.compute(m, ref.tokens(), false, null));
            assertTrue(d < TOLERANCE, () -> name + " with attn_qkv: max |engine - float64 reference| " + d);
        }
    }

    /**
     * hunyuan-moe's q/k norm comes after RoPE; the reference computed with the norms before RoPE (moe_archs_f64.py
     * --mutate qk-norm-before-rope, committed beside the right one) is far from the engine's logits.
     */
    @Test
    void hunyuanNormBeforeRopeIsFarFromTheEngine() throws IOException {
        Reference ref = reference("hunyuan-moe");
        float[] wrong = logits("hunyuan-moe.qk-norm-before-rope.logits.f32");
        try (DecoderModel m = Models.load(TinyArchFiles.write("hunyuan-moe", dir, t -> {}), pool)) {
            float[] engine = Logits.compute(m, ref.tokens(), false, null);
            float right = maxDiff(ref.logits(), engine), d = maxDiff(wrong, engine);
            assertTrue(right < TOLERANCE, () -> "hunyuan-moe: max |engine - reference| " + right);
            assertTrue(d > MOVED, () -> "hunyuan-moe: the norm-before-RoPE reference is only " + d + " from the engine");
        }
    }

    @Test
    void ernieIgnoresTheRoutingKeysLlamaCppIgnores() throws IOException {
        Reference ref = reference("ernie4_5-moe");
        Path file = TinyArchFiles.write("ernie4_5-moe", dir, t -> t.u32("expert_gating_func", 2).f32("expert_weights_scale", 3f)
                .bool("expert_weights_norm", false));
        try (DecoderModel m = Models.load(file, pool)) {
            float d = maxDiff(ref.logits(), Logits.compute(m, ref.tokens(), false, null));
            assertTrue(d < TOLERANCE, () -> "ernie4_5-moe with routing keys its loader does not read: logits moved " + d);
        }
    }

    @ParameterizedTest
    @ValueSource(strings = {"glm4moe", "bailingmoe2"})
    void theNextnBlockIsSkippedAndOnlyTheDecoderLayersCount(String name) throws IOException {
        Path file = TinyArchFiles.write(name, dir, t -> {});
        try (DecoderModel m = Models.load(file, pool)) {
            assertEquals(3, m.info().layers());
            assertEquals(3, m.layers().size());
        }
    }
}
