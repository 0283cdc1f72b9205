package io.moeflow.gguf.synth;

import static io.moeflow.gguf.synth.SynthTesting.model;
import static org.junit.jupiter.api.Assertions.*;

import io.moeflow.gguf.GgufFile;
import io.moeflow.kernels.WorkerPool;
import io.moeflow.model.DecoderModel;
import io.moeflow.model.Logits;
import io.moeflow.model.Models;
import io.moeflow.model.StepStats;
import io.moeflow.tokenizer.Tokenizer;
import io.moeflow.tokenizer.Vocabulary;
import java.io.IOException;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.SplittableRandom;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/** Synthetic models load and run in moeflow's engine; the routing skew shows in the experts it chooses. */
class SynthModelRunTest {
    static final int SEQUENCES = 16, SEQUENCE_TOKENS = 32;
    @TempDir Path dir;
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
    @CsvSource({"qwen3moe,Q8_0", "qwen3moe,Q4_K_M", "qwen3moe,F16", "qwen3moe,F32",
            "llama,Q8_0", "llama,Q4_K_M", "llama,F16", "llama,F32", "deepseek2,Q8_0", "deepseek2,Q4_K_M", "deepseek2,F32",
            "qwen3moe,IQ4_XS", "llama,IQ4_NL", "deepseek2,IQ4_XS"})
    void loadsAndRuns(String arch, String type) throws IOException {
        SynthShape shape = switch (arch) {
            case "llama" -> SynthTesting.tinyDense();
            case "deepseek2" -> SynthTesting.tinyDeepSeek2();
            default -> SynthTesting.tinyMoe();
        };
        Path p = dir.resolve(arch + "-" + type + ".gguf");
        model(shape, SynthFileType.parse(type), 5, null).write(p, 2, null);
        int[] tokens;
        try (GgufFile f = GgufFile.open(p)) {
            Tokenizer tok = Tokenizer.of(Vocabulary.fromMetadata(metadata(f)));
            tokens = tok.encode("Once upon a time, there was a little girl.", true, false);
            assertEquals(1, tokens[0], "bos of the tok512 vocabulary");
            assertEquals("Once upon a time, there was a little girl.", tok.decode(tokens));
        }
        try (DecoderModel m = Models.load(p, pool)) {
            assertEquals(512, m.info().vocabSize());
            assertEquals(arch, m.info().architecture());
            float[] batch = Logits.compute(m, tokens, false, null);
            float[] decode = Logits.compute(m, tokens, true, null);
            float maxAbs = 0, maxDiff = 0;
            for (int i = 0; i < batch.length; i++) {
                assertTrue(Float.isFinite(batch[i]), "logit " + i);
                maxAbs = Math.max(maxAbs, Math.abs(batch[i]));
                maxDiff = Math.max(maxDiff, Math.abs(batch[i] - decode[i]));
            }
            assertTrue(maxAbs > 0.01f, "logits are not all ~0: " + maxAbs);
            assertTrue(maxDiff <= 1e-4f, "batch vs decode " + maxDiff);
        }
    }

    /**
     * 16 experts top-4 over 2 layers, 16 sequences of 32 random tokens: with zipf:1.1 the 4 most chosen experts of a
     * layer take about the Zipf target's share (61 %); without skew they stay near their uniform 25 %.
     */
    @Test
    void zipfSkewConcentratesRouting() throws IOException {
        SynthShape shape = new SynthShape("skew", "qwen3moe", 2, 256, 4, 2, 64, 0, 16, 4, 64, 512, 256, 1e6f, 1e-6f);
        double uniform = topQuarterShare(shape, null);
        double skewed = topQuarterShare(shape, new RoutingSkew(1.1));
        double target = topQuarter(new RoutingSkew(1.1).targetShares(16, 4), 4);
        System.out.printf("top 25%% of experts: uniform %.3f, zipf:1.1 %.3f (target %.3f)%n", uniform, skewed, target);
        assertTrue(uniform < 0.40, "unskewed routing is near-uniform: " + uniform);
        assertEquals(target, skewed, 0.12, "zipf:1.1 concentrates routing about as calibrated");
    }

    /** Share of selections taken by each layer's most chosen quarter of the experts, averaged over layers. */
    private double topQuarterShare(SynthShape shape, RoutingSkew skew) throws IOException {
        Path p = dir.resolve("skew-" + (skew == null ? "none" : "zipf") + ".gguf");
        model(shape, SynthFileType.F32, 11, skew).write(p, 2, null);
        int[][] hist = new int[shape.layers()][shape.experts()];
        StepStats stats = new StepStats();
        stats.routing = (layer, token, experts, from, k) -> {
            for (int i = from; i < from + k; i++) hist[layer][experts[i]]++;
        };
        // many short sequences: one long sequence's own context gives it favourite experts even without skew
        SplittableRandom rnd = new SplittableRandom(3);
        try (DecoderModel m = Models.load(p, pool)) {
            for (int s = 0; s < SEQUENCES; s++) Logits.compute(m, rnd.ints(SEQUENCE_TOKENS, 3, 512).toArray(), false, stats);
        }
        double share = 0;
        for (int[] h : hist) share += topQuarter(Arrays.stream(h).asDoubleStream().toArray(), shape.experts() / 4);
        return share / hist.length;
    }

    private static double topQuarter(double[] counts, int n) {
        double[] s = counts.clone();
        Arrays.sort(s);
        double top = 0, all = 0;
        for (int i = 0; i < s.length; i++) {
            all += s[i];
            if (i >= s.length - n) top += s[i];
        }
        return top / all;
    }

    private static Vocabulary.Metadata metadata(GgufFile f) {
        return new Vocabulary.Metadata() {
            @Override public String string(String key) { return f.has(key) ? f.getString(key) : null; }
            @Override public Long integer(String key) { return f.has(key) ? f.getLong(key) : null; }
            @Override public Boolean bool(String key) { return f.has(key) ? f.getBool(key, false) : null; }
            @Override public String[] stringArray(String key) { return f.getStringArray(key); }
            @Override public float[] floatArray(String key) { return f.getFloatArray(key); }
            @Override public int[] intArray(String key) { return f.getIntArray(key); }
        };
    }
}
