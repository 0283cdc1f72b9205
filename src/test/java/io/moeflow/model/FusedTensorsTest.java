package io.moeflow.model;

import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.moeflow.experts.ExpertStoreConfig;
import io.moeflow.gguf.GgufFile;
import io.moeflow.gguf.GgufTensor;
import io.moeflow.kernels.WorkerPool;
import io.moeflow.testing.GgufRewrite;
import io.moeflow.testing.Golden;
import io.moeflow.testing.SharedFiles;
import java.io.IOException;
import java.nio.file.Path;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * Fused tensors load as llama.cpp loads them, with the unfused file's logits: {@code attn_qkv} (q rows, then k, then
 * v, with {@code attn_qkv.bias} likewise; llama.cpp's create_tensor_qkv/build_qkv) for llama, Mixtral, qwen3moe,
 * gpt-oss (golden files) and qwen2moe (the double-precision reference of {@link TinyMoeModel}); {@code
 * ffn_gate_up_exps} (each expert's gate rows, then its up rows: convert_hf_to_gguf --fuse-gate-up-exps, llama.cpp's
 * build_moe_ffn) for deepseek2, resident and budgeted. The fused files are written from the golden ones with
 * moeflow's writer. Where llama.cpp's graph cannot use a fused tensor (olmoe) it is refused by name.
 */
class FusedTensorsTest {
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

    static int[] tokens(String name) {
        return Golden.of(name).tokens();
    }

    static float[] concat(float[]... parts) {
        int n = 0;
        for (float[] p : parts) n += p.length;
        float[] out = new float[n];
        int o = 0;
        for (float[] p : parts) {
            System.arraycopy(p, 0, out, o, p.length);
            o += p.length;
        }
        return out;
    }

    /** Replaces every layer's attn_q/k/v (and their biases) by attn_qkv (and attn_qkv.bias). */
    static Path fuseQkv(GgufFile f, Path out) throws IOException {
        GgufRewrite r = GgufRewrite.of(f);
        for (int l = 0; f.findTensor("blk." + l + ".attn_q.weight").isPresent(); l++) {
            String p = "blk." + l + ".";
            GgufTensor q = f.tensor(p + "attn_q.weight"), k = f.tensor(p + "attn_k.weight"), v = f.tensor(p + "attn_v.weight");
            r.replaceF32(p + "attn_q.weight", p + "attn_qkv.weight", new long[] {q.ne(0), q.ne(1) + k.ne(1) + v.ne(1)},
                    concat(q.toFloats(), k.toFloats(), v.toFloats()));
            r.remove(p + "attn_k.weight");
            r.remove(p + "attn_v.weight");
            if (f.findTensor(p + "attn_q.bias").isPresent()) {
                float[] b = concat(f.tensor(p + "attn_q.bias").toFloats(), f.tensor(p + "attn_k.bias").toFloats(), f.tensor(p + "attn_v.bias").toFloats());
                r.replaceF32(p + "attn_q.bias", p + "attn_qkv.bias", new long[] {b.length}, b);
                r.remove(p + "attn_k.bias");
                r.remove(p + "attn_v.bias");
            }
        }
        return r.write(out);
    }

    @ParameterizedTest
    @ValueSource(strings = {"llama-dense-F32", "mixtral-tiny-F32", "qwen3moe-tiny-F32", "gptoss-tiny-F32"})
    void fusedQkvGivesTheGoldenLogits(String name) throws IOException {
        Golden g = Golden.of(name);
        Path fused;
        try (GgufFile f = GgufFile.open(g.gguf())) {
            fused = fuseQkv(f, dir.resolve(name + "-qkv.gguf"));
        }
        float[] reference = g.logits();
        int[] tokens = tokens(name);
        try (GgufFile f = GgufFile.open(fused)) {
            assertTrue(f.findTensor("blk.0.attn_qkv.weight").isPresent() && f.findTensor("blk.0.attn_q.weight").isEmpty());
        }
        try (DecoderModel m = Models.load(fused, pool)) {
            GoldenLogitsTest.assertClose(reference, Logits.compute(m, tokens, false, null), name + " fused qkv batch");
            GoldenLogitsTest.assertClose(reference, Logits.compute(m, tokens, true, null), name + " fused qkv decode");
        }
    }

    @Test
    void fusedQkvWithBiasesInQwen2MoeGivesTheReference() throws IOException {
        TinyMoeModel ref = new TinyMoeModel("qwen2moe");
        Path plain = ref.write(dir, 5);
        Path fused;
        try (GgufFile f = GgufFile.open(plain)) {
            fused = fuseQkv(f, dir.resolve("qwen2moe-qkv.gguf"));
        }
        int[] tokens = SyntheticMoeArchitecturesTest.tokens(20, 3, ref.vocab);
        double[][] expected = ref.forward(tokens, new int[ref.layers][tokens.length][ref.used]);
        float[] flat = new float[tokens.length * ref.vocab];
        for (int t = 0; t < tokens.length; t++) for (int v = 0; v < ref.vocab; v++) flat[t * ref.vocab + v] = (float) expected[t][v];
        try (DecoderModel m = Models.load(fused, pool)) {
            GoldenLogitsTest.assertClose(flat, Logits.compute(m, tokens, false, null), "qwen2moe fused qkv");
        }
    }

    @Test
    void olmoeRefusesAFusedQkvByName() throws IOException {
        Path plain = new TinyMoeModel("olmoe").write(dir, 5);
        Path fused;
        try (GgufFile f = GgufFile.open(plain)) {
            fused = fuseQkv(f, dir.resolve("olmoe-qkv.gguf"));
        }
        var e = assertThrows(IllegalArgumentException.class, () -> Models.load(fused, pool));
        assertTrue(e.getMessage().contains("blk.0.attn_qkv.weight") && e.getMessage().contains("not supported"), e.getMessage());
    }

    /** Replaces every MoE layer's ffn_gate_exps and ffn_up_exps by ffn_gate_up_exps (per expert: gate rows, then up rows). */
    static Path fuseGateUp(GgufFile f, Path out) throws IOException {
        GgufRewrite r = GgufRewrite.of(f);
        for (int l = 0; f.findTensor("blk." + l + ".attn_norm.weight").isPresent(); l++) {
            String p = "blk." + l + ".";
            if (f.findTensor(p + "ffn_gate_exps.weight").isEmpty()) continue;
            GgufTensor g = f.tensor(p + "ffn_gate_exps.weight"), u = f.tensor(p + "ffn_up_exps.weight");
            int n = (int) g.ne(2), per = (int) (g.ne(0) * g.ne(1));
            float[] gf = g.toFloats(), uf = u.toFloats(), fused = new float[2 * n * per];
            for (int e = 0; e < n; e++) {
                System.arraycopy(gf, e * per, fused, 2 * e * per, per);
                System.arraycopy(uf, e * per, fused, (2 * e + 1) * per, per);
            }
            r.replaceF32(p + "ffn_gate_exps.weight", p + "ffn_gate_up_exps.weight", new long[] {g.ne(0), 2 * g.ne(1), n}, fused);
            r.remove(p + "ffn_up_exps.weight");
        }
        return r.write(out);
    }

    @ParameterizedTest
    @ValueSource(strings = {"deepseek2-v3-tiny-F32", "deepseek2-lite-tiny-F32"})
    void fusedGateUpExpsGivesTheGoldenLogits(String name) throws IOException {
        Golden g = Golden.of(name);
        Path fused;
        try (GgufFile f = GgufFile.open(g.gguf())) {
            fused = fuseGateUp(f, dir.resolve(name + "-gate-up.gguf"));
        }
        try (GgufFile f = GgufFile.open(fused)) {
            assertTrue(f.findTensor("blk.1.ffn_gate_up_exps.weight").isPresent() && f.findTensor("blk.1.ffn_gate_exps.weight").isEmpty());
        }
        float[] reference = g.logits();
        int[] tokens = g.tokens();
        try (DecoderModel m = Models.load(fused, pool)) {
            GoldenLogitsTest.assertClose(reference, Logits.compute(m, tokens, false, null), name + " fused gate_up batch");
            GoldenLogitsTest.assertClose(reference, Logits.compute(m, tokens, true, null), name + " fused gate_up decode");
        }
        try (DecoderModel m = Models.load(fused, pool, ExpertStoreConfig.budgeted("25%"))) {
            GoldenLogitsTest.assertClose(reference, Logits.compute(m, tokens, false, null), name + " fused gate_up budgeted");
            assertTrue(m.expertStore().stats().total().bytesRead() > 0);
        }
    }

    @Test
    void fusedAndSeparateGateUpTogetherAreRefused() throws IOException {
        String name = "deepseek2-lite-tiny-F32";
        Path d = SharedFiles.require("golden/" + name);
        Path both;
        try (GgufFile f = GgufFile.open(d.resolve(name + ".gguf"))) {
            GgufRewrite r = GgufRewrite.of(f);
            GgufTensor g = f.tensor("blk.1.ffn_gate_exps.weight");
            r.addF32("blk.1.ffn_gate_up_exps.weight", new long[] {g.ne(0), 2 * g.ne(1), g.ne(2)}, new float[(int) (2 * g.elements())]);
            both = r.write(dir.resolve("both.gguf"));
        }
        var e = assertThrows(IllegalArgumentException.class, () -> Models.load(both, pool));
        assertTrue(e.getMessage().contains("both ffn_gate_up_exps and ffn_gate_exps"), e.getMessage());
    }
}
