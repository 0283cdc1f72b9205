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
import java.util.ArrayList;
import java.util.Arrays;
import java.util.EnumMap;
import java.util.HashMap;
import java.util.List;
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

    /**
     * The golden DeepSeek-V3-layout file (converted by llama.cpp): synth's plan for its hyper-parameters gives the
     * same tensor names, order, shapes and types, and the same hyper-parameters, whatever DeepSeek2Model reads.
     */
    @Test
    void deepSeek2MatchesGoldenLayout() throws IOException {
        String name = "deepseek2-v3-tiny-F32";
        Path d = SharedFiles.require("golden/" + name);
        JsonNode facts = new ObjectMapper().readTree(d.resolve(name + ".json").toFile());
        JsonNode hp = facts.get("hparams");
        SynthShape shape = new SynthShape(name, "deepseek2", hp.get("deepseek2.block_count").asInt(),
                hp.get("deepseek2.embedding_length").asInt(), hp.get("deepseek2.attention.head_count").asInt(),
                hp.get("deepseek2.attention.head_count_kv").asInt(), hp.get("deepseek2.attention.key_length_mla").asInt(),
                hp.get("deepseek2.feed_forward_length").asInt(), hp.get("deepseek2.expert_count").asInt(),
                hp.get("deepseek2.expert_used_count").asInt(), hp.get("deepseek2.expert_feed_forward_length").asInt(),
                hp.get("deepseek2.vocab_size").asInt(), hp.get("deepseek2.context_length").asInt(),
                hp.get("deepseek2.rope.freq_base").floatValue(), hp.get("deepseek2.attention.layer_norm_rms_epsilon").floatValue(),
                new SynthShape.Mla(hp.get("deepseek2.attention.q_lora_rank").asInt(), hp.get("deepseek2.attention.kv_lora_rank").asInt(),
                        hp.get("deepseek2.rope.dimension_count").asInt(), hp.get("deepseek2.attention.value_length_mla").asInt(),
                        hp.get("deepseek2.leading_dense_block_count").asInt(), hp.get("deepseek2.expert_shared_count").asInt(),
                        hp.get("deepseek2.expert_group_count").asInt(), hp.get("deepseek2.expert_group_used_count").asInt(),
                        hp.get("deepseek2.expert_weights_scale").floatValue()));
        SyntheticModel m = model(shape, SynthFileType.F32, 1, null);
        try (GgufFile golden = GgufFile.open(d.resolve(name + ".gguf"))) {
            assertEquals(golden.tensors().stream().map(GgufTensor::name).toList(), m.tensors().stream().map(SyntheticModel.SynthTensor::name).toList());
            long elements = 0;
            for (SyntheticModel.SynthTensor t : m.tensors()) {
                assertArrayEquals(golden.tensor(t.name()).ne(), t.ne(), t.name());
                assertEquals(golden.tensor(t.name()).type(), t.type(), t.name());
                elements += t.elements();
            }
            assertEquals(elements, shape.parameterCount());
        }
        Map<String, GgufValue> md = m.metadata();
        hp.fieldNames().forEachRemaining(k -> {
            assertTrue(md.containsKey(k), k);
            Object v = md.get(k).value();
            if (v instanceof Boolean b) assertEquals(hp.get(k).asBoolean(), b, k);
            else assertEquals(hp.get(k).asDouble(), ((Number) v).doubleValue(), 1e-6 * Math.abs(hp.get(k).asDouble()), k);
        });
        assertEquals(hp.size() + 3, md.keySet().stream().filter(k -> !k.startsWith("tokenizer.") && !k.startsWith("moeflow.")).count(),
                "only the golden's hyper-parameters besides general.architecture, name and file_type: " + md.keySet());
    }

    /**
     * bench-deepseek3: Q8_0 converts every 2-D/3-D weight but the routers; Q4_K_M as llama-quantize: Q6_K output,
     * ffn_down / _exps / _shexp Q6_K where use_more_bits(i, 12) (layers 0, 3, 6, 9, 10, 11), attn_k_b (rows of 64)
     * falls back to Q5_0, the rest Q4_K; norms, routers and exp_probs_b stay F32.
     */
    @Test
    void benchDeepSeek3Types() {
        SynthShape shape = SynthShape.preset("bench-deepseek3");
        assertEquals("deepseek2", shape.arch());
        Map<String, GgmlType> q8 = new HashMap<>(), q4 = new HashMap<>();
        model(shape, SynthFileType.Q8_0, 1, null).tensors().forEach(x -> q8.put(x.name(), x.type()));
        SyntheticModel m4 = model(shape, SynthFileType.Q4_K_M, 1, null);
        m4.tensors().forEach(x -> q4.put(x.name(), x.type()));
        assertEquals(GgmlType.Q4_K, q4.get("token_embd.weight"));
        assertEquals(GgmlType.Q6_K, q4.get("output.weight"));
        assertEquals(GgmlType.Q8_0, q8.get("output.weight"));
        Set<Integer> moreBits = Set.of(0, 3, 6, 9, 10, 11);
        for (int l = 0; l < 12; l++) {
            String p = "blk." + l + ".";
            GgmlType down = moreBits.contains(l) ? GgmlType.Q6_K : GgmlType.Q4_K;
            List<String> ffn = l == 0 ? List.of("ffn_gate", "ffn_up", "ffn_down")
                    : List.of("ffn_gate_exps", "ffn_up_exps", "ffn_down_exps", "ffn_gate_shexp", "ffn_up_shexp", "ffn_down_shexp");
            for (String w : ffn) assertEquals(w.startsWith("ffn_down") ? down : GgmlType.Q4_K, q4.get(p + w + ".weight"), p + w);
            for (String w : List.of("attn_q_a", "attn_q_b", "attn_kv_a_mqa", "attn_v_b", "attn_output"))
                assertEquals(GgmlType.Q4_K, q4.get(p + w + ".weight"), p + w);
            assertEquals(GgmlType.Q5_0, q4.get(p + "attn_k_b.weight"), p + "attn_k_b");
            List<String> f32 = new ArrayList<>(List.of("attn_norm.weight", "attn_q_a_norm.weight", "attn_kv_a_norm.weight", "ffn_norm.weight"));
            if (l > 0) f32.addAll(List.of("ffn_gate_inp.weight", "exp_probs_b.bias"));
            for (String w : f32) {
                assertEquals(GgmlType.F32, q4.get(p + w), p + w);
                assertEquals(GgmlType.F32, q8.get(p + w), p + w);
            }
        }
        q8.forEach((n, t) -> assertTrue(t == GgmlType.Q8_0 || t == GgmlType.F32, n + " " + t));
        assertEquals(q8.values().stream().filter(t -> t == GgmlType.F32).count(), q4.values().stream().filter(t -> t == GgmlType.F32).count());
        // ~1.2 G parameters, ~1.2 GiB at Q8_0: fits this machine with room for the benchmark
        long params = shape.parameterCount();
        assertEquals(params, m4.tensors().stream().mapToLong(SyntheticModel.SynthTensor::elements).sum());
        long q8Bytes = model(shape, SynthFileType.Q8_0, 1, null).tensorBytes();
        assertTrue(q8Bytes > 1L << 30 && q8Bytes < 2L << 30, "bench-deepseek3 Q8_0 bytes " + q8Bytes);
    }

    @Test
    void deepSeek2ShapeErrorsNameTheOption() {
        SynthShape s = SynthTesting.tinyDeepSeek2();
        SynthShape.Mla a = s.mla();
        var groups = assertThrows(IllegalArgumentException.class, () -> new SynthShape("x", "deepseek2", 3, 256, 4, 1, 96, 512, 16, 4, 256,
                512, 256, 1e4f, 1e-6f, new SynthShape.Mla(a.qLoraRank(), a.kvLoraRank(), 32, 64, 1, 1, 3, 2, 2.5f)).validate());
        assertTrue(groups.getMessage().contains("--expert-groups 3"), groups.getMessage());
        var rope = assertThrows(IllegalArgumentException.class, () -> new SynthShape("x", "deepseek2", 3, 256, 4, 1, 96, 512, 16, 4, 256,
                512, 256, 1e4f, 1e-6f, new SynthShape.Mla(a.qLoraRank(), a.kvLoraRank(), 96, 64, 1, 1, 4, 2, 2.5f)).validate());
        assertTrue(rope.getMessage().contains("--rope-dims 96"), rope.getMessage());
        var noMla = assertThrows(IllegalArgumentException.class, () -> new SynthShape("x", "deepseek2", 3, 256, 4, 1, 96, 512, 16, 4, 256,
                512, 256, 1e4f, 1e-6f).validate());
        assertTrue(noMla.getMessage().contains("MLA"), noMla.getMessage());
        var skew = assertThrows(IllegalArgumentException.class, () -> model(s, SynthFileType.F32, 1, new RoutingSkew(1.1)));
        assertTrue(skew.getMessage().contains("deepseek2"), skew.getMessage());
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

    /**
     * IQ4_NL / IQ4_XS without an importance matrix, as llama-quant.cpp's llama_tensor_get_type_impl: bench-qwen3moe
     * has 16 heads on 4 KV heads (n_gqa 4: attn_v Q5_K), 64 experts (no 8-expert rules), ffn_down_exps Q5_K in the
     * layers i < 16 / 8, output Q6_K, the rest (token_embd included) the base type.
     */
    @ParameterizedTest
    @ValueSource(strings = {"IQ4_NL", "IQ4_XS"})
    void benchPresetIq4Types(String type) {
        SynthFileType ft = SynthFileType.parse(type);
        Map<String, GgmlType> t = new HashMap<>();
        model(SynthShape.preset("bench-qwen3moe"), ft, 1, null).tensors().forEach(x -> t.put(x.name(), x.type()));
        assertEquals(ft.baseType, t.get("token_embd.weight"));
        assertEquals(GgmlType.Q6_K, t.get("output.weight"));
        for (int l = 0; l < 16; l++) {
            String p = "blk." + l + ".";
            assertEquals(GgmlType.Q5_K, t.get(p + "attn_v.weight"), p + "attn_v");
            assertEquals(l < 2 ? GgmlType.Q5_K : ft.baseType, t.get(p + "ffn_down_exps.weight"), p + "ffn_down_exps");
            for (String q : new String[] {"attn_q", "attn_k", "attn_output", "ffn_gate_exps", "ffn_up_exps"})
                assertEquals(ft.baseType, t.get(p + q + ".weight"), p + q);
            assertEquals(GgmlType.F32, t.get(p + "ffn_gate_inp.weight"), p + "ffn_gate_inp");
        }
        // n_gqa 2 (tinyMoe: 4 heads on 2): attn_v keeps the base type; 8 experts: attn_v, attn_k Q8_0, attn_output Q5_K
        Map<String, GgmlType> small = new HashMap<>();
        model(SynthTesting.tinyMoe(), ft, 1, null).tensors().forEach(x -> small.put(x.name(), x.type()));
        assertEquals(ft.baseType, small.get("blk.1.attn_v.weight"));
        SynthShape eight = new SynthShape("x", "llama", 2, 256, 4, 2, 64, 0, 8, 2, 256, 512, 64, 10000f, 1e-5f);
        Map<String, GgmlType> e8 = new HashMap<>();
        model(eight, ft, 1, null).tensors().forEach(x -> e8.put(x.name(), x.type()));
        assertEquals(GgmlType.Q8_0, e8.get("blk.1.attn_v.weight"));
        assertEquals(GgmlType.Q8_0, e8.get("blk.1.attn_k.weight"));
        assertEquals(GgmlType.Q5_K, e8.get("blk.1.attn_output.weight"));
        assertEquals(ft.baseType, e8.get("blk.1.attn_q.weight"));
    }

    /** Rows of 96: IQ4_XS falls back to IQ4_NL (block 32); IQ4_NL itself has no fallback for rows of 48. */
    @Test
    void iq4FallbackForShortRows() {
        SynthShape s = new SynthShape("x", "llama", 8, 96, 3, 1, 32, 160, 0, 0, 0, 512, 64, 10000f, 1e-5f);
        Map<String, GgmlType> t = new HashMap<>();
        model(s, SynthFileType.IQ4_XS, 1, null).tensors().forEach(x -> t.put(x.name(), x.type()));
        assertEquals(GgmlType.IQ4_NL, t.get("token_embd.weight"));
        assertEquals(GgmlType.IQ4_NL, t.get("blk.1.attn_q.weight"));
        assertEquals(GgmlType.Q8_0, t.get("output.weight"));
        assertEquals(GgmlType.Q5_1, t.get("blk.0.ffn_down.weight")); // Q5_K (first eighth) -> Q5_1 for rows of 160
        SynthShape bad = new SynthShape("x", "llama", 1, 48, 3, 1, 16, 64, 0, 0, 0, 512, 64, 10000f, 1e-5f);
        var e = assertThrows(IllegalArgumentException.class, () -> model(bad, SynthFileType.IQ4_NL, 1, null));
        assertTrue(e.getMessage().contains("token_embd.weight") && e.getMessage().contains("IQ4_NL"), e.getMessage());
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

    /** inspect's summary of a written deepseek2 file: supported, its experts counted in the MoE layers only. */
    @ParameterizedTest
    @ValueSource(strings = {"Q8_0", "Q4_K_M"})
    void deepSeek2SummarySupported(String type) throws IOException {
        SyntheticModel m = model(SynthTesting.tinyDeepSeek2(), SynthFileType.parse(type), 7, null);
        Path p = dir.resolve("ds.gguf");
        m.write(p, 2, null);
        try (GgufFile f = GgufFile.open(p)) {
            for (SyntheticModel.SynthTensor t : m.tensors()) assertEquals(t.type(), f.tensor(t.name()).type(), t.name());
            String s = GgufSummary.describe(f);
            assertTrue(s.contains("architecture: deepseek2\n"), s);
            assertTrue(s.contains("experts: 16 per layer in 2 MoE layers"), s);
            assertTrue(s.endsWith("supported: yes\n"), s);
            assertTrue(f.getBool("deepseek2.expert_weights_norm", false));
            assertEquals(2.5f, f.getFloat("deepseek2.expert_weights_scale", 0f));
        }
    }

    /** bench/README.md: std 0.02, 0.06 for what sets the attention scores, 0.1 for routers, norms 1 + 0.05 N. */
    @ParameterizedTest
    @ValueSource(strings = {"llama", "deepseek2"})
    void weightStatistics(String arch) {
        SyntheticModel m = model(arch.equals("llama") ? SynthTesting.tinyDense() : SynthTesting.tinyDeepSeek2(), SynthFileType.F32, 3, null);
        for (SyntheticModel.SynthTensor t : m.tensors()) {
            double want = switch (t.name().replaceAll("blk\\.\\d+\\.", "")) {
                case "attn_q.weight", "attn_k.weight", "attn_q_a.weight", "attn_q_b.weight", "attn_kv_a_mqa.weight", "attn_k_b.weight" -> 0.06;
                case "ffn_gate_inp.weight" -> 0.1;
                case "attn_norm.weight", "ffn_norm.weight", "output_norm.weight", "attn_q_a_norm.weight", "attn_kv_a_norm.weight" -> 0.05;
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
