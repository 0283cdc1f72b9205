package io.moeflow.gguf.synth;

import static io.moeflow.gguf.synth.SynthTesting.model;
import static org.junit.jupiter.api.Assertions.*;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.moeflow.gguf.GgufFile;
import io.moeflow.gguf.GgufSummary;
import io.moeflow.gguf.GgufTensor;
import io.moeflow.gguf.GgufValue;
import io.moeflow.kernels.GgmlType;
import io.moeflow.testing.SharedFiles;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.EnumMap;
import java.util.HashMap;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

class SyntheticModelTest {
    @TempDir Path dir;

    /**
     * The golden quantized files were made by llama-quantize from F32 models of the same shapes: synth's plan for
     * those shapes must give the same tensor names, shapes and types, and the same hyper-parameters.
     */
    @ParameterizedTest
    @ValueSource(strings = {"qwen3moe-tiny-Q4_K_M", "qwen3moe-tiny-Q8_0", "llama-dense-Q4_K_M", "llama-dense-Q8_0"})
    void matchesLlamaQuantizeOnGoldenShapes(String name) throws IOException {
        Path d = SharedFiles.require("golden/" + name);
        JsonNode facts = new ObjectMapper().readTree(d.resolve(name + ".json").toFile());
        JsonNode hp = facts.get("hparams");
        String arch = facts.get("arch").asText();
        String a = arch + ".";
        boolean moe = hp.has(a + "expert_count");
        int headDim = hp.has(a + "attention.key_length") ? hp.get(a + "attention.key_length").asInt()
                : hp.get(a + "embedding_length").asInt() / hp.get(a + "attention.head_count").asInt();
        SynthShape shape = new SynthShape(name, arch, hp.get(a + "block_count").asInt(), hp.get(a + "embedding_length").asInt(),
                hp.get(a + "attention.head_count").asInt(), hp.get(a + "attention.head_count_kv").asInt(), headDim,
                hp.get(a + "feed_forward_length").asInt(), moe ? hp.get(a + "expert_count").asInt() : 0,
                moe ? hp.get(a + "expert_used_count").asInt() : 0, moe ? hp.get(a + "expert_feed_forward_length").asInt() : 0,
                hp.get(a + "vocab_size").asInt(), hp.get(a + "context_length").asInt(), hp.get(a + "rope.freq_base").floatValue(),
                hp.get(a + "attention.layer_norm_rms_epsilon").floatValue());
        SynthFileType type = SynthFileType.parse(name.substring(name.lastIndexOf('-') + 1));
        SyntheticModel m = model(shape, type, 1, null);

        JsonNode types = facts.get("tensor_types");
        Set<String> expectedNames = new TreeSet<>();
        types.fieldNames().forEachRemaining(expectedNames::add);
        Set<String> names = new TreeSet<>();
        try (GgufFile golden = GgufFile.open(d.resolve(name + ".gguf"))) {
            for (SyntheticModel.SynthTensor t : m.tensors()) {
                names.add(t.name());
                assertEquals(types.get(t.name()).asText(), t.type().name(), t.name());
                assertArrayEquals(golden.tensor(t.name()).ne(), t.ne(), t.name());
            }
        }
        assertEquals(expectedNames, names);

        Map<String, GgufValue> md = m.metadata();
        assertEquals(facts.get("general.file_type").asInt(), ((Long) md.get("general.file_type").value()).intValue());
        hp.fieldNames().forEachRemaining(k -> {
            assertTrue(md.containsKey(k), k);
            assertEquals(hp.get(k).asDouble(), ((Number) md.get(k).value()).doubleValue(), 1e-6 * Math.abs(hp.get(k).asDouble()), k);
        });
    }

    /** bench-qwen3moe Q4_K_M: use_more_bits(i, 16) holds for layers 0, 1, 4, 7, 10, 13, 14, 15. */
    @Test
    void benchPresetQ4KMTypes() {
        SyntheticModel m = model(SynthShape.preset("bench-qwen3moe"), SynthFileType.Q4_K_M, 1, null);
        Set<Integer> moreBits = Set.of(0, 1, 4, 7, 10, 13, 14, 15);
        Map<String, GgmlType> t = new HashMap<>();
        m.tensors().forEach(x -> t.put(x.name(), x.type()));
        assertEquals(GgmlType.Q4_K, t.get("token_embd.weight"));
        assertEquals(GgmlType.Q6_K, t.get("output.weight"));
        assertEquals(GgmlType.F32, t.get("output_norm.weight"));
        for (int l = 0; l < 16; l++) {
            GgmlType more = moreBits.contains(l) ? GgmlType.Q6_K : GgmlType.Q4_K;
            String p = "blk." + l + ".";
            assertEquals(more, t.get(p + "attn_v.weight"), p + "attn_v");
            assertEquals(more, t.get(p + "ffn_down_exps.weight"), p + "ffn_down_exps");
            for (String q : new String[] {"attn_q", "attn_k", "attn_output", "ffn_gate_exps", "ffn_up_exps"})
                assertEquals(GgmlType.Q4_K, t.get(p + q + ".weight"), p + q);
            for (String f : new String[] {"attn_norm", "ffn_norm", "attn_q_norm", "attn_k_norm", "ffn_gate_inp"})
                assertEquals(GgmlType.F32, t.get(p + f + ".weight"), p + f);
        }
        assertEquals(1655, Math.round(m.shape().parameterCount() / 1e6)); // bench/README.md: 1655 M parameters
    }

    /** Rows not a multiple of 256: Q4_K falls back to Q5_0, Q6_K to Q8_0 (output.weight gets Q8_0). */
    @Test
    void kQuantFallbackForShortRows() {
        SynthShape s = new SynthShape("x", "llama", 8, 96, 3, 1, 32, 160, 0, 0, 0, 512, 64, 10000f, 1e-5f);
        Map<String, GgmlType> t = new HashMap<>();
        model(s, SynthFileType.Q4_K_M, 1, null).tensors().forEach(x -> t.put(x.name(), x.type()));
        assertEquals(GgmlType.Q8_0, t.get("output.weight"));
        assertEquals(GgmlType.Q5_0, t.get("token_embd.weight"));
        assertEquals(GgmlType.Q8_0, t.get("blk.0.attn_v.weight")); // Q6_K (first eighth) -> Q8_0
        assertEquals(GgmlType.Q5_0, t.get("blk.1.attn_v.weight"));
        assertEquals(GgmlType.Q5_0, t.get("blk.1.ffn_down.weight"));
        assertEquals(GgmlType.Q8_0, t.get("blk.3.ffn_down.weight")); // (3 - 1) % 3 == 2
        // Q8_0 has no fallback in llama-quantize: rows of 48 are refused, naming the tensor
        SynthShape bad = new SynthShape("x", "llama", 1, 48, 3, 1, 16, 64, 0, 0, 0, 512, 64, 10000f, 1e-5f);
        var e = assertThrows(IllegalArgumentException.class, () -> model(bad, SynthFileType.Q8_0, 1, null));
        assertTrue(e.getMessage().contains("token_embd.weight") && e.getMessage().contains("48"), e.getMessage());
    }

    /** Eight experts: llama-quantize's Mixtral-8x rules (attn_v, attn_k Q8_0, attn_output Q5_K). */
    @Test
    void eightExpertRules() {
        SynthShape s = new SynthShape("x", "llama", 2, 256, 4, 2, 64, 0, 8, 2, 256, 512, 64, 10000f, 1e-5f);
        Map<String, GgmlType> t = new HashMap<>();
        model(s, SynthFileType.Q4_K_M, 1, null).tensors().forEach(x -> t.put(x.name(), x.type()));
        assertEquals(GgmlType.Q8_0, t.get("blk.0.attn_v.weight"));
        assertEquals(GgmlType.Q8_0, t.get("blk.0.attn_k.weight"));
        assertEquals(GgmlType.Q5_K, t.get("blk.0.attn_output.weight"));
        assertEquals(GgmlType.Q4_K, t.get("blk.0.attn_q.weight"));
    }

    @Test
    void writtenFileHasPlannedTypesAndSummary() throws IOException {
        SyntheticModel m = model(SynthTesting.tinyMoe(), SynthFileType.Q4_K_M, 7, null);
        Path p = dir.resolve("m.gguf");
        m.write(p, 2, null);
        try (GgufFile f = GgufFile.open(p)) {
            assertEquals(m.tensors().size(), f.tensors().size());
            Map<GgmlType, Integer> counts = new EnumMap<>(GgmlType.class);
            for (SyntheticModel.SynthTensor t : m.tensors()) {
                GgufTensor g = f.tensor(t.name());
                assertEquals(t.type(), g.type(), t.name());
                assertArrayEquals(t.ne(), g.ne(), t.name());
                counts.merge(t.type(), 1, Integer::sum);
            }
            // layer 1 of 2 uses more bits (7*2/8 = 1): attn_v, ffn_down_exps and output are Q6_K
            assertEquals(3, counts.get(GgmlType.Q6_K));
            assertEquals(GgmlType.Q6_K, f.tensor("blk.1.attn_v.weight").type());
            assertEquals(GgmlType.Q4_K, f.tensor("blk.0.attn_v.weight").type());
            String s = GgufSummary.describe(f);
            counts.forEach((type, n) -> assertTrue(s.contains("  " + type + ": " + n + " tensors, "), type + " in\n" + s));
            assertTrue(s.contains("architecture: qwen3moe\n"), s);
            assertTrue(s.contains("vocab 512, bos 1, eos 2"), s);
            assertTrue(s.contains("experts: 4 per layer in 2 MoE layers"), s);
            assertTrue(s.endsWith("supported: yes\n"), s);
            assertEquals("none", f.getString(SyntheticModel.KEY_SKEW));
            assertEquals(7, f.getLong(SyntheticModel.KEY_SEED));
            assertEquals(15, f.getInt("general.file_type"));
        }
    }

    @Test
    void weightStatistics() {
        SyntheticModel m = model(SynthTesting.tinyDense(), SynthFileType.F32, 3, null);
        for (SyntheticModel.SynthTensor t : m.tensors()) {
            double want = switch (t.name().replaceAll("blk\\.\\d+\\.", "")) {
                case "attn_q.weight", "attn_k.weight" -> 0.06;
                case "attn_norm.weight", "ffn_norm.weight", "output_norm.weight" -> 0.05;
                default -> 0.02;
            };
            double wantMean = t.init() == SyntheticModel.Init.NORM ? 1 : 0;
            int rows = (int) Math.min(t.rows(), t.rowsPerChunk());
            float[] v = new float[rows * (int) t.ne()[0]];
            m.fill(t, 0, 0, rows, v);
            double mean = Arrays.stream(toDouble(v)).average().orElseThrow();
            double var = Arrays.stream(toDouble(v)).map(x -> (x - mean) * (x - mean)).sum() / v.length;
            double tol = 5 / Math.sqrt(v.length); // relative, ~5 standard errors
            assertEquals(wantMean, mean, want * tol * 2, t.name() + " mean");
            assertEquals(want, Math.sqrt(var), want * tol, t.name() + " std");
        }
    }

    private static double[] toDouble(float[] v) {
        double[] d = new double[v.length];
        for (int i = 0; i < v.length; i++) d[i] = v[i];
        return d;
    }

    @Test
    void sameSeedSameBytesWhateverTheThreads() throws IOException {
        SynthShape s = SynthTesting.tinyDense();
        Path a = dir.resolve("a.gguf"), b = dir.resolve("b.gguf"), c = dir.resolve("c.gguf");
        model(s, SynthFileType.Q8_0, 42, null).write(a, 1, null);
        model(s, SynthFileType.Q8_0, 42, null).write(b, 3, null);
        model(s, SynthFileType.Q8_0, 43, null).write(c, 2, null);
        byte[] ba = Files.readAllBytes(a);
        assertArrayEquals(ba, Files.readAllBytes(b));
        assertEquals(ba.length, Files.size(c));
        assertFalse(Arrays.equals(ba, Files.readAllBytes(c)), "another seed gives other weights");
    }

    @Test
    void vocabularyMustBeTheTokenizers() {
        SynthShape s = SynthTesting.tinyDense();
        SynthShape other = new SynthShape(s.name(), s.arch(), s.layers(), s.embd(), s.heads(), s.kvHeads(), s.headDim(), s.ffn(),
                0, 0, 0, 1000, s.ctx(), s.ropeBase(), s.eps());
        var e = assertThrows(IllegalArgumentException.class, () -> model(other, SynthFileType.F32, 1, null));
        assertTrue(e.getMessage().contains("--vocab 1000") && e.getMessage().contains("512"), e.getMessage());
    }

    @Test
    void skewParsing() {
        assertNull(RoutingSkew.parse("none"));
        assertEquals("zipf:1.1", RoutingSkew.parse("zipf:1.1").describe());
        assertEquals("zipf:2", RoutingSkew.parse(" zipf : 2 ").describe());
        for (String bad : new String[] {"zipf", "zipf:x", "zipf:-1", "foo:1", "corr:0.8"})
            assertThrows(IllegalArgumentException.class, () -> RoutingSkew.parse(bad), bad);
        var e = assertThrows(IllegalArgumentException.class, () -> model(SynthTesting.tinyDense(), SynthFileType.F32, 1, new RoutingSkew(1)));
        assertTrue(e.getMessage().contains("--skew needs a model with experts"), e.getMessage());
    }

    /** The calibration reaches its Zipf targets on its own noise model (the model's routers are measured elsewhere). */
    @Test
    void calibratedOffsetsOrderAndShares() {
        RoutingSkew z = new RoutingSkew(1.1);
        double[] target = z.targetShares(64, 8);
        assertEquals(8, Arrays.stream(target).sum(), 1e-9);
        assertEquals(1.0, target[0], 1e-12); // capped: the most popular expert is in every token's top 8
        for (int r = 1; r < 64; r++) assertTrue(target[r] <= target[r - 1]);
        double[] off = z.calibratedOffsets(64, 8);
        for (int r = 1; r < 64; r++) assertTrue(off[r] <= off[r - 1] + 0.05, "rank " + r + " " + Arrays.toString(off));
        // re-measure with fresh noise
        var rnd = new java.util.SplittableRandom(99);
        int draws = 20000;
        double[] count = new double[64];
        double[] logit = new double[64];
        for (int d = 0; d < draws; d++) {
            for (int e = 0; e < 64; e++) logit[e] = off[e] + rnd.nextGaussian();
            Integer[] idx = new Integer[64];
            for (int e = 0; e < 64; e++) idx[e] = e;
            Arrays.sort(idx, (x, y) -> Double.compare(logit[y], logit[x]));
            for (int k = 0; k < 8; k++) count[idx[k]]++;
        }
        for (int r : new int[] {1, 3, 10, 30, 63})
            assertEquals(target[r], count[r] / draws, 0.02 + 0.1 * target[r], "rank " + r);
    }
}
