package io.moeflow.model;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.moeflow.experts.ExpertStoreConfig;
import io.moeflow.gguf.GgufFile;
import io.moeflow.gguf.GgufSummary;
import io.moeflow.gguf.GgufValue;
import io.moeflow.kernels.WorkerPool;
import io.moeflow.testing.GgufRewrite;
import io.moeflow.testing.Golden;
import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A DeepSeek-V3 file with an MTP block, as DeepSeek-V3/R1 and GLM-4.7-Flash conversions keep it: the golden tiny V3
 * model plus one appended block {@code blk.3} (a full MoE decoder block, copied from blk.2, with llama.cpp's nextn
 * tensors {@code nextn.eh_proj}, {@code enorm}, {@code hnorm}, {@code embed_tokens}, {@code shared_head_head},
 * {@code shared_head_norm}), {@code block_count} 4 and {@code nextn_predict_layers} 1, written with moeflow's writer.
 * Decoding skips the block as llama.cpp does: the golden logits, batch and decode, resident and budgeted; without
 * the nextn key the same file runs the block and the logits move (the check can fail).
 */
class NextnLayersTest {
    static final String NAME = "deepseek2-v3-tiny-F32";
    @TempDir static Path dir;
    static WorkerPool pool;
    static Path withNextn, withoutKey;
    static int[] tokens;
    static float[] reference;

    @BeforeAll
    static void write() throws IOException {
        Golden g = Golden.of(NAME);
        tokens = g.tokens();
        reference = g.logits();
        try (GgufFile f = GgufFile.open(g.gguf())) {
            GgufRewrite r = GgufRewrite.of(f);
            List<GgufRewrite.Tensor> block = new ArrayList<>();
            for (var t : r.tensors)
                if (t.name().startsWith("blk.2.")) block.add(new GgufRewrite.Tensor("blk.3." + t.name().substring(6), t.type(), t.ne(), t.data()));
            r.tensors.addAll(block);
            int embd = f.getInt("deepseek2.embedding_length"), vocab = f.getInt("deepseek2.vocab_size");
            Random rnd = new Random(17);
            r.addF32("blk.3.nextn.eh_proj.weight", new long[] {2L * embd, embd}, random(rnd, 2 * embd * embd, 0.02f, 0f));
            r.addF32("blk.3.nextn.enorm.weight", new long[] {embd}, random(rnd, embd, 0.05f, 1f));
            r.addF32("blk.3.nextn.hnorm.weight", new long[] {embd}, random(rnd, embd, 0.05f, 1f));
            r.addF32("blk.3.nextn.embed_tokens.weight", new long[] {embd, vocab}, random(rnd, embd * vocab, 0.02f, 0f));
            r.addF32("blk.3.nextn.shared_head_head.weight", new long[] {embd, vocab}, random(rnd, embd * vocab, 0.05f, 0f));
            r.addF32("blk.3.nextn.shared_head_norm.weight", new long[] {embd}, random(rnd, embd, 0.05f, 1f));
            r.put("deepseek2.block_count", GgufValue.ofUInt32(4));
            // without the key: blk.3 is an ordinary fourth block (its nextn tensors unused, hence dropped)
            GgufRewrite plain = GgufRewrite.of(f);
            plain.tensors.addAll(block);
            plain.put("deepseek2.block_count", GgufValue.ofUInt32(4));
            withoutKey = plain.write(dir.resolve("v3-four-blocks.gguf"));
            r.put("deepseek2.nextn_predict_layers", GgufValue.ofUInt32(1));
            withNextn = r.write(dir.resolve("v3-nextn.gguf"));
        }
        pool = new WorkerPool(2);
    }

    static float[] random(Random rnd, int n, float std, float mean) {
        float[] v = new float[n];
        for (int i = 0; i < n; i++) v[i] = mean + std * (float) rnd.nextGaussian();
        return v;
    }

    @AfterAll
    static void stop() {
        if (pool != null) pool.close();
    }

    @Test
    void theMtpBlockIsSkippedInDecoding() {
        try (DecoderModel m = Models.load(withNextn, pool)) {
            assertEquals(3, m.info().layers(), "decoder layers: block_count - nextn_predict_layers");
            assertEquals(3, m.layers().size());
            StepStats stats = new StepStats();
            List<Integer> routedLayers = new ArrayList<>();
            stats.routing = (layer, token, experts, from, k) -> routedLayers.add(layer);
            GoldenLogitsTest.assertClose(reference, Logits.compute(m, tokens, false, stats), "batch");
            GoldenLogitsTest.assertClose(reference, Logits.compute(m, tokens, true, null), "decode");
            assertTrue(routedLayers.stream().allMatch(l -> l < 3), "no routing in the MTP block");
        }
        try (DecoderModel m = Models.load(withNextn, pool, ExpertStoreConfig.budgeted("50%"))) {
            GoldenLogitsTest.assertClose(reference, Logits.compute(m, tokens, false, null), "budgeted batch");
            var e = assertThrows(IllegalArgumentException.class, () -> m.expertStore().layer(3));
            assertTrue(e.getMessage().contains("layer 3 has no routed experts"), e.getMessage());
        }
    }

    @Test
    void runningTheBlockWouldChangeTheLogits() {
        try (DecoderModel m = Models.load(withoutKey, pool)) {
            assertEquals(4, m.info().layers());
            float[] four = Logits.compute(m, tokens, false, null);
            float max = 0;
            for (int i = 0; i < four.length; i++) max = Math.max(max, Math.abs(four[i] - reference[i]));
            assertTrue(max > 1e-2f, "an extra block moves the logits (max |diff| " + max + ")");
        }
    }

    @Test
    void inspectSaysTheMtpBlockIsThere() {
        try (GgufFile f = GgufFile.open(withNextn)) {
            String s = GgufSummary.describe(f);
            assertTrue(s.contains("nextn (MTP) layers: 1 (blk.3, deepseek2.nextn_predict_layers): multi-token-prediction blocks, skipped in decoding"), s);
            assertTrue(s.contains("experts: 16 per layer in 2 MoE layers"), "the decoder's MoE layers only: " + s);
            assertTrue(s.endsWith("supported: yes\n"), s);
        }
    }

    @Test
    void aNextnCountOfAllBlocksIsRefused() throws IOException {
        Path bad;
        try (GgufFile f = GgufFile.open(withNextn)) {
            bad = GgufRewrite.of(f).put("deepseek2.nextn_predict_layers", GgufValue.ofUInt32(4)).write(dir.resolve("v3-all-nextn.gguf"));
        }
        var e = assertThrows(RuntimeException.class, () -> Models.load(bad, pool));
        assertTrue(e.getMessage().contains("deepseek2.nextn_predict_layers = 4 must be at least 0 and below deepseek2.block_count = 4"), e.getMessage());
    }
}
