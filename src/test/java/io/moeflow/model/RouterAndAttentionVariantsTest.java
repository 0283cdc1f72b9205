package io.moeflow.model;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.moeflow.gguf.GgufFile;
import io.moeflow.gguf.GgufTensor;
import io.moeflow.gguf.GgufValue;
import io.moeflow.gguf.GgufWriter;
import io.moeflow.kernels.WorkerPool;
import io.moeflow.model.arch.DeepSeek2Model;
import io.moeflow.model.blocks.MoeFfn;
import io.moeflow.testing.GgufRewrite;
import io.moeflow.testing.ReferenceForward;
import io.moeflow.testing.Golden;
import java.io.IOException;
import java.nio.file.Path;
import java.util.Random;
import java.util.function.Consumer;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Router and attention variants real files carry, each written into a golden file with moeflow's writer and checked
 * against the independent float64 forward pass ({@link ReferenceForward}, whose variants follow llama.cpp's graphs),
 * or refused at load with a message naming the key or tensor. Every implemented variant also moves the logits away
 * from the plain file's by more than the tolerance, so ignoring it would fail.
 */
class RouterAndAttentionVariantsTest {
    @TempDir static Path dir;
    static WorkerPool pool;

    @BeforeAll
    static void start() {
        pool = new WorkerPool(2);
    }

    @AfterAll
    static void stop() {
        pool.close();
    }

    static Path golden(String name) {
        return Golden.of(name).gguf();
    }

    /** The golden file {@code name} changed by {@code edit}, written as {@code variant}.gguf. */
    static Path variant(String name, String variant, Consumer<GgufRewrite> edit) throws IOException {
        try (GgufFile f = GgufFile.open(golden(name))) {
            GgufRewrite r = GgufRewrite.of(f);
            edit.accept(r);
            return r.write(dir.resolve(variant + ".gguf"));
        }
    }

    /** moeflow (batch and decode) against the float64 reference on {@code file}; the variant must matter. */
    static void assertReference(String name, Path file) throws IOException {
        Golden g = Golden.of(name);
        int[] tokens = g.tokens();
        float[] reference = ReferenceForward.logits(file, tokens);
        float[] plain = g.logits();
        float moved = 0;
        for (int i = 0; i < plain.length; i++) moved = Math.max(moved, Math.abs(plain[i] - reference[i]));
        assertTrue(moved > 1e-2f, file.getFileName() + ": the variant moves the reference logits by only " + moved);
        try (DecoderModel m = Models.load(file, pool)) {
            GoldenLogitsTest.assertClose(reference, Logits.compute(m, tokens, false, null), file.getFileName() + " batch");
            GoldenLogitsTest.assertClose(reference, Logits.compute(m, tokens, true, null), file.getFileName() + " decode");
        }
    }

    static void assertRefused(Path file, String... named) {
        var e = assertThrows(RuntimeException.class, () -> Models.load(file, pool).close());
        for (String n : named) assertTrue(e.getMessage().contains(n), "the message names " + n + ": " + e.getMessage());
    }

    static float[] around(Random r, int n, float mean, float spread) {
        float[] v = new float[n];
        for (int i = 0; i < n; i++) v[i] = mean + spread * (float) r.nextGaussian();
        return v;
    }

    // ---- expert gating

    @Test
    void sqrtSoftplusGating() throws IOException {
        String v3 = "deepseek2-v3-tiny-F32";
        assertReference(v3, variant(v3, "v3-sqrtsoftplus", r -> r.put("deepseek2.expert_gating_func", GgufValue.ofUInt32(4))));
    }

    @Test
    void softmaxOverTheSelectedLogits() throws IOException {
        String v3 = "deepseek2-v3-tiny-F32";
        assertReference(v3, variant(v3, "v3-softmax-weight", r -> r.put("deepseek2.expert_gating_func", GgufValue.ofUInt32(3))));
    }

    @Test
    void withoutTheGatingKeySoftmaxExceptForGlm47Lite() throws IOException {
        String v3 = "deepseek2-v3-tiny-F32";
        // a small V3 without the key: llama.cpp's V2/V2.5 default, softmax (the reference's default too)
        assertReference(v3, variant(v3, "v3-no-gating", r -> r.metadata.remove("deepseek2.expert_gating_func")));
        // llama.cpp's rule for GLM-4.7-Lite files that lack the key: 47 or 48 blocks and a vocabulary of 154880
        assertEquals(MoeFfn.Gating.SIGMOID, gatingOf(47, 154880, true));
        assertEquals(MoeFfn.Gating.SIGMOID, gatingOf(48, 154880, false));
        assertEquals(MoeFfn.Gating.SOFTMAX, gatingOf(46, 154880, true));
        assertEquals(MoeFfn.Gating.SOFTMAX, gatingOf(47, 154881, true));
        assertEquals(MoeFfn.Gating.SOFTMAX, gatingOf(27, 102400, true));
    }

    /** The gating of a metadata-only deepseek2 file of {@code blocks} blocks and {@code vocab} tokens (key or token list). */
    static MoeFfn.Gating gatingOf(int blocks, int vocab, boolean vocabKey) throws IOException {
        GgufWriter w = new GgufWriter().putString("general.architecture", "deepseek2").putUInt32("deepseek2.block_count", blocks);
        if (vocabKey) w.putUInt32("deepseek2.vocab_size", vocab);
        Path p = dir.resolve("gating-" + blocks + "-" + vocab + "-" + vocabKey + ".gguf");
        if (!vocabKey) {
            String[] tokens = new String[vocab];
            java.util.Arrays.fill(tokens, "t");
            w.putStringArray("tokenizer.ggml.tokens", tokens);
        }
        w.write(p);
        try (GgufFile f = GgufFile.open(p)) {
            return DeepSeek2Model.gating(f);
        }
    }

    @Test
    void anUnknownGatingFunctionIsRefusedByName() throws IOException {
        String v3 = "deepseek2-v3-tiny-F32";
        assertRefused(variant(v3, "v3-gating-5", r -> r.put("deepseek2.expert_gating_func", GgufValue.ofUInt32(5))),
                "deepseek2.expert_gating_func = 5");
    }

    // ---- attention temperature

    @Test
    void attentionTemperatureTuning() throws IOException {
        String v3 = "deepseek2-v3-tiny-F32";
        assertReference(v3, variant(v3, "v3-temperature", r -> r.put("deepseek2.attention.temperature_scale", GgufValue.ofFloat32(0.4f))
                .put("deepseek2.attention.temperature_length", GgufValue.ofUInt32(4))));
    }

    @Test
    void attentionTemperatureRefusals() throws IOException {
        String v3 = "deepseek2-v3-tiny-F32";
        assertRefused(variant(v3, "v3-temperature-no-length", r -> r.put("deepseek2.attention.temperature_scale", GgufValue.ofFloat32(0.4f))),
                "temperature length");
        String llama = "llama-dense-F32";
        assertRefused(variant(llama, "llama-temperature", r -> r.put("llama.attention.temperature_scale", GgufValue.ofFloat32(0.4f))),
                "llama.attention.temperature_scale");
    }

    // ---- .scale tensors

    @Test
    void projectionScalesInLlama() throws IOException {
        String llama = "llama-dense-F32";
        Random rnd = new Random(1);
        assertReference(llama, variant(llama, "llama-scales", r -> {
            for (int l = 0; l < 2; l++)
                for (String t : new String[] {"attn_q", "attn_k", "attn_v", "attn_output", "ffn_gate", "ffn_up", "ffn_down"})
                    r.addF32("blk." + l + "." + t + ".scale", new long[] {1}, around(rnd, 1, 1.3f, 0.2f));
        }));
    }

    @Test
    void expertScalesInQwen3Moe() throws IOException {
        String qwen = "qwen3moe-tiny-F32";
        Random rnd = new Random(2);
        assertReference(qwen, variant(qwen, "qwen3moe-scales", r -> {
            for (int l = 0; l < 2; l++) {
                for (String t : new String[] {"attn_q", "attn_k", "attn_v", "attn_output"})
                    r.addF32("blk." + l + "." + t + ".scale", new long[] {1}, around(rnd, 1, 1.2f, 0.2f));
                for (String m : new String[] {"gate", "up", "down"})
                    r.addF32("blk." + l + ".ffn_" + m + "_exps.scale", new long[] {16}, around(rnd, 16, 1.5f, 0.4f));
            }
        }));
    }

    @Test
    void outputScaleInMla() throws IOException {
        String v3 = "deepseek2-v3-tiny-F32";
        assertReference(v3, variant(v3, "v3-wo-scale", r -> {
            for (int l = 0; l < 3; l++) r.addF32("blk." + l + ".attn_output.scale", new long[] {1}, new float[] {1.6f + 0.1f * l});
        }));
    }

    @Test
    void scalesLlamaCppDoesNotApplyAreRefusedByName() throws IOException {
        String v3 = "deepseek2-v3-tiny-F32";
        assertRefused(variant(v3, "v3-exps-scale", r -> r.addF32("blk.1.ffn_up_exps.scale", new long[] {16}, new float[16])),
                "blk.1.ffn_up_exps.scale", "not used");
        String gptoss = "gptoss-tiny-F32";
        assertRefused(variant(gptoss, "gptoss-exps-scale", r -> r.addF32("blk.0.ffn_down_exps.scale", new long[] {8}, new float[8])),
                "blk.0.ffn_down_exps.scale");
        String llama = "llama-dense-F32";
        assertRefused(variant(llama, "llama-output-scale", r -> r.addF32("output.scale", new long[] {1}, new float[] {2f})), "output.scale");
    }

    // ---- biases

    @Test
    void qkvAndOutputBiasesInLlama() throws IOException {
        String llama = "llama-dense-F32";
        Random rnd = new Random(3);
        assertReference(llama, variant(llama, "llama-biases", r -> {
            for (int l = 0; l < 2; l++) {
                r.addF32("blk." + l + ".attn_q.bias", new long[] {256}, around(rnd, 256, 0f, 0.3f));
                r.addF32("blk." + l + ".attn_k.bias", new long[] {128}, around(rnd, 128, 0f, 0.3f));
                r.addF32("blk." + l + ".attn_v.bias", new long[] {128}, around(rnd, 128, 0f, 0.3f));
                r.addF32("blk." + l + ".attn_output.bias", new long[] {256}, around(rnd, 256, 0f, 0.3f));
            }
        }));
    }

    @Test
    void qkvBiasesInQwen3MoeAndTheOutputBiasItHasNot() throws IOException {
        String qwen = "qwen3moe-tiny-F32";
        Random rnd = new Random(4);
        int q, kv;
        try (GgufFile f = GgufFile.open(golden(qwen))) {
            q = (int) f.tensor("blk.0.attn_q.weight").ne(1);
            kv = (int) f.tensor("blk.0.attn_k.weight").ne(1);
        }
        assertReference(qwen, variant(qwen, "qwen3moe-biases", r -> {
            for (int l = 0; l < 2; l++) {
                r.addF32("blk." + l + ".attn_q.bias", new long[] {q}, around(rnd, q, 0f, 0.5f));
                r.addF32("blk." + l + ".attn_k.bias", new long[] {kv}, around(rnd, kv, 0f, 0.5f));
                r.addF32("blk." + l + ".attn_v.bias", new long[] {kv}, around(rnd, kv, 0f, 0.5f));
            }
        }));
        // llama.cpp's qwen3moe loads no attn_output.bias
        assertRefused(variant(qwen, "qwen3moe-o-bias", r -> r.addF32("blk.0.attn_output.bias", new long[] {512}, new float[512])),
                "blk.0.attn_output.bias", "qwen3moe");
    }

    @Test
    void olmoeRefusesTheBiasesAndScalesItsGraphIgnores() throws IOException {
        Path plain = new TinyMoeModel("olmoe").write(dir, 9);
        for (String t : new String[] {"blk.0.attn_q.bias", "blk.1.attn_v.scale"}) {
            Path p;
            try (GgufFile f = GgufFile.open(plain)) {
                GgufTensor q = f.tensor("blk.0.attn_q.weight");
                p = GgufRewrite.of(f).addF32(t, new long[] {t.endsWith("bias") ? q.ne(1) : 1}, new float[(int) (t.endsWith("bias") ? q.ne(1) : 1)])
                        .write(dir.resolve("olmoe-" + t + ".gguf"));
            }
            assertRefused(p, t, "olmoe");
        }
    }

    // ---- RoPE scaling

    static float[] factors(Random rnd, int n) {
        float[] f = new float[n];
        for (int i = 0; i < n; i++) f[i] = 1f + 3f * (float) Math.abs(rnd.nextGaussian()) * i / n;
        return f;
    }

    @Test
    void longRopeTakesTheLongFactorsBeyondTheOriginalContext() throws IOException {
        String llama = "llama-dense-F32";
        Random rnd = new Random(5);
        float[] longF = factors(rnd, 32), shortF = factors(rnd, 32);
        for (int orig : new int[] {1024, 2048}) { // context_length is 2048: long factors, then short ones
            assertReference(llama, variant(llama, "llama-longrope-" + orig, r -> r.put("llama.rope.scaling.type", GgufValue.ofString("longrope"))
                    .put("llama.rope.scaling.factor", GgufValue.ofFloat32(2f))
                    .put("llama.rope.scaling.attn_factor", GgufValue.ofFloat32(1.1f))
                    .put("llama.rope.scaling.original_context_length", GgufValue.ofUInt32(orig))
                    .addF32("rope_factors_long.weight", new long[] {32}, longF)
                    .addF32("rope_factors_short.weight", new long[] {32}, shortF)));
        }
    }

    @Test
    void aScalingFactorWithoutATypeIsLinear() throws IOException {
        String llama = "llama-dense-F32";
        assertReference(llama, variant(llama, "llama-factor-only", r -> r.put("llama.rope.scaling.factor", GgufValue.ofFloat32(4f))));
    }

    @Test
    void anUnknownRopeScalingTypeIsRefusedByName() throws IOException {
        String llama = "llama-dense-F32";
        assertRefused(variant(llama, "llama-rope-dynamic", r -> r.put("llama.rope.scaling.type", GgufValue.ofString("dynamic"))),
                "llama.rope.scaling.type 'dynamic'");
    }
}
