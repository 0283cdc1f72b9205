package io.moeflow.model;

import static io.moeflow.testing.TokenArrays.concat;
import static org.junit.jupiter.api.Assertions.*;

import io.moeflow.gguf.synth.SynthFileType;
import io.moeflow.gguf.GgufFile;
import io.moeflow.kernels.GgmlType;
import io.moeflow.kernels.Kernels;
import io.moeflow.kernels.WorkerPool;
import io.moeflow.model.arch.Llama4Model;
import io.moeflow.testing.SharedFiles;
import io.moeflow.testing.TinySynthMoe;
import java.io.IOException;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Locale;
import java.util.SplittableRandom;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * Logits computed after a prefix whose KV blocks were computed by another sequence (prefix caching) against the
 * same prompt prefilled whole in a fresh cache, on a model of every architecture moeflow runs (GQA, sliding window
 * with sinks, MLA, llama4's chunked and RoPE-less layers) and of F32 and quantized weights.
 *
 * <p>F32 weights: equal bit for bit. The KV of a position, and every logit, is then independent of how many
 * tokens a step held and which: the F32 kernels reduce each (row, vector) pair in the same order whatever the
 * number of vectors, attention runs per (token, head), and the MoE output sums each token's experts in its own
 * selection order. Quantized weights (with the Vector API): equal within {@link #QUANTIZED_TOLERANCE}: their
 * kernels choose a different accumulation order by the number of vectors in a product (Q8_0: one vector, two, four,
 * or the tiled GEMM from eight), and a step's expert groups and prompt chunk differ with and without the cached
 * prefix, so a few low bits differ, as they do between any two batchings. With the scalar kernels
 * ({@code -Pscalar}) every format reduces in one order and quantized models are bit-identical too.
 */
class PrefixReuseLogitsTest {
    /**
     * Largest difference allowed for quantized weights with the Vector API; the measured one is printed (1.7e-6 at
     * most over these models at 512 and 128 bits, 2026-12-03).
     */
    static final double QUANTIZED_TOLERANCE = 1e-5;
    /** Tries for bit equality: C2 compiles the vector kernels after a while, and reductions round differently before. */
    private static final int TRIES = 6;
    private static final int B = KvCache.BLOCK;

    @TempDir Path dir;

    private static Path file(String name) {
        return switch (name) {
            case "stories260K" -> Path.of("models/stories260K/stories260K.gguf");
            case "synth-qwen3moe-Q8_0" -> TinySynthMoe.path();
            case "synth-qwen3moe-F32" -> TinySynthMoe.path(SynthFileType.F32);
            default -> SharedFiles.require("golden/" + name + "/" + name + ".gguf");
        };
    }

    /** Logits of positions {@code [from, tokens.length)} of a sequence whose first {@code from} positions are in {@code kv}. */
    private static float[] feed(Model m, KvCache kv, int seq, int[] tokens, int from) {
        assertTrue(kv.ensureCapacity(seq, tokens.length));
        ForwardBatch b = new ForwardBatch(tokens.length);
        for (int p = from; p < tokens.length; p++) b.add(tokens[p], p, seq, true);
        float[] logits = new float[(tokens.length - from) * m.info().vocabSize()];
        m.forward(b, kv, logits, null);
        return logits;
    }

    /** Logits of {@code target}'s positions after its cached prefix, the prefix computed by {@code donor}; asserts the hit. */
    private static float[] afterCachedPrefix(Model m, int[] donor, int[] target, int expectedHit) {
        KvCache kv = m.newKvCache(KvCache.blocksFor(donor.length) + KvCache.blocksFor(target.length));
        kv.enablePrefixCache();
        int d = kv.newSequence();
        feed(m, kv, d, donor, 0);
        kv.cacheFullBlocks(d, i -> donor[i]);
        KvCache.Prefix prefix = kv.findPrefix(i -> target[i], target.length - 1);
        assertEquals(expectedHit, prefix.tokens(), "cached prefix");
        int t = kv.newSequence();
        kv.attachPrefix(t, prefix);
        return feed(m, kv, t, target, prefix.tokens());
    }

    /** The same rows computed with the whole prompt prefilled in a fresh cache. */
    private static float[] whole(Model m, int[] target, int from) {
        KvCache kv = m.newKvCache(KvCache.blocksFor(target.length));
        float[] all = feed(m, kv, kv.newSequence(), target, 0);
        int vocab = m.info().vocabSize();
        return Arrays.copyOfRange(all, from * vocab, all.length);
    }

    /**
     * The cause, measured at the KV itself: a prefix's keys and values prefilled in one chunk against one token per
     * step. Bit-identical where {@code exact} (retried as the logits are, for the JIT's warm-up); else the largest
     * difference is returned (and printed by the caller).
     */
    private static double kvChunkDependence(Model m, int[] prefix, boolean exact, String name) {
        String mismatch = null;
        double worst = 0;
        for (int attempt = 0; attempt < TRIES; attempt++) {
            KvCache chunk = m.newKvCache(KvCache.blocksFor(prefix.length)), steps = m.newKvCache(KvCache.blocksFor(prefix.length));
            int a = chunk.newSequence(), b = steps.newSequence();
            feed(m, chunk, a, prefix, 0);
            assertTrue(steps.ensureCapacity(b, prefix.length));
            float[] row = new float[m.info().vocabSize()];
            ForwardBatch one = new ForwardBatch(1);
            for (int p = 0; p < prefix.length; p++) {
                one.clear();
                one.add(prefix[p], p, b, true);
                m.forward(one, steps, row, null);
            }
            mismatch = null;
            worst = 0;
            int width = chunk.kDim() + chunk.vDim();
            for (int p = 0; p < prefix.length; p++)
                for (int l = 0; l < m.info().layers(); l++) {
                    float[] x = chunk.block(a, p), y = steps.block(b, p);
                    int o = chunk.offset(l, p);
                    for (int i = 0; i < width; i++) {
                        if (mismatch == null && Float.floatToRawIntBits(x[o + i]) != Float.floatToRawIntBits(y[o + i]))
                            mismatch = "position " + p + " layer " + l;
                        worst = Math.max(worst, Math.abs(x[o + i] - y[o + i]));
                    }
                }
            if (mismatch == null || !exact) break;
        }
        if (exact && mismatch != null) fail(name + ": the KV of " + mismatch + " depends on the chunk it was computed in");
        return worst;
    }

    private static boolean quantized(DecoderModel m) {
        return m.file().tensors().stream().anyMatch(t -> t.type() != GgmlType.F32);
    }

    @ParameterizedTest
    @ValueSource(strings = {"stories260K", "synth-qwen3moe-F32", "synth-qwen3moe-Q8_0", "qwen3moe-tiny-F32",
            "mixtral-tiny-F32", "gptoss-tiny-F32", "deepseek2-lite-tiny-F32", "deepseek2-v3-tiny-F32",
            "qwen3moe-tiny-Q8_0", "qwen3moe-tiny-Q4_K_M", "llama-dense-Q8_0"})
    void logitsAfterAReusedPrefixAreTheLogitsWithoutIt(String name) {
        try (WorkerPool pool = new WorkerPool(2); DecoderModel m = Models.load(file(name), pool)) {
            assertReuseGivesTheSameLogits(name, m);
        }
    }

    /** The other architectures, as tiny F32 files (llama4 with chunks of 8 positions, so the prefix crosses chunks). */
    @ParameterizedTest
    @ValueSource(strings = {"glm4moe", "dots1", "kimi-k2", "ernie4_5-moe", "bailingmoe2", "hunyuan-moe", "granitemoe",
            "llama4", "llama4-maverick", "qwen2moe", "olmoe"})
    void everyOtherArchitectureToo(String name) throws IOException {
        Path file = name.equals("qwen2moe") || name.equals("olmoe") ? new TinyMoeModel(name).write(dir, 7)
                : TinyArchFiles.write(name, dir, t -> {});
        try (WorkerPool pool = new WorkerPool(2);
             DecoderModel m = name.startsWith("llama4")
                     ? new Llama4Model(GgufFile.open(file), pool, new Llama4Model.Tuning(8, 8)) : Models.load(file, pool)) {
            assertTrue(m.kvIsFunctionOfPrefix(), name);
            assertReuseGivesTheSameLogits(name, m);
        }
    }

    private static void assertReuseGivesTheSameLogits(String name, DecoderModel m) {
        int vocab = m.info().vocabSize();
        SplittableRandom r = new SplittableRandom(5);
        int[] prefix = r.ints(2 * B + 5, 3, vocab).toArray(); // two full blocks, past gpt-oss's window of 8
        int[] donor = concat(prefix, r.ints(6, 3, vocab).toArray());
        int[] target = concat(prefix, r.ints(9, 3, vocab).toArray());
        // a prompt one token past the blocks: the cached path feeds a single token (the decode kernels)
        int[] oneMore = Arrays.copyOf(target, 2 * B + 1);
        boolean exact = !quantized(m) || !Kernels.vectorEnabled();
        double worst = 0;
        for (int[] t : new int[][] {target, oneMore}) {
            float[] cached = null, expected = null;
            for (int i = 0; i < TRIES; i++) {
                cached = afterCachedPrefix(m, donor, t, 2 * B);
                expected = whole(m, t, 2 * B);
                if (Arrays.equals(cached, expected)) break;
            }
            for (int i = 0; i < expected.length; i++) worst = Math.max(worst, Math.abs(cached[i] - expected[i]));
            if (exact) assertArrayEquals(expected, cached, name + ": bit-identical logits after " + t.length + " tokens");
        }
        double kvWorst = kvChunkDependence(m, prefix, exact, name);
        System.out.printf(Locale.ROOT, "prefix reuse %s: max |logit difference| %.3g, max |KV difference| one chunk vs"
                + " one token per step %.3g (%s)%n", name, worst, kvWorst,
                exact ? "bit-identical required" : "tolerance " + QUANTIZED_TOLERANCE);
        assertTrue(worst <= QUANTIZED_TOLERANCE, name + ": logits after a reused prefix differ by " + worst);
    }
}
