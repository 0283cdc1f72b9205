package io.moeflow.gguf;

import static org.junit.jupiter.api.Assertions.*;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.moeflow.kernels.GgmlType;
import io.moeflow.testing.SharedFiles;
import java.io.IOException;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class GgufSummaryTest {
    @TempDir Path dir;

    private static JsonNode facts(String name) throws IOException {
        return new ObjectMapper().readTree(SharedFiles.require("golden/" + name + "/" + name + ".json").toFile());
    }

    private static String describe(String name) {
        try (GgufFile f = GgufFile.open(SharedFiles.require("golden/" + name + "/" + name + ".gguf"))) {
            return GgufSummary.describe(f);
        }
    }

    @Test
    void denseLlama() throws IOException {
        String s = describe("llama-dense-F32");
        JsonNode facts = facts("llama-dense-F32");
        assertTrue(s.contains("architecture: llama\n"), s);
        facts.get("hparams").fieldNames().forEachRemaining(k -> assertTrue(s.contains("  " + k + " = "), k));
        assertTrue(s.contains("  llama.block_count = " + facts.get("hparams").get("llama.block_count").asLong() + "\n"), s);
        assertTrue(s.contains("vocab " + facts.get("n_vocab").asInt() + ", bos 1, eos 2"), s);
        assertTrue(s.contains("tokenizer: model llama"), s);
        int nTensors = facts.get("tensor_types").size();
        assertTrue(s.contains("tensors: " + nTensors + ", "), s);
        assertTrue(s.contains("  F32: " + facts.get("tensor_type_counts").get("F32").asInt() + " tensors, "), s);
        assertFalse(s.contains("experts:"), s);
        assertTrue(s.endsWith("supported: yes\n"), s);
    }

    @Test
    void qwen3moeQuantizedExperts() throws IOException {
        String name = "qwen3moe-tiny-Q4_K_M";
        String s = describe(name);
        JsonNode facts = facts(name);
        JsonNode hp = facts.get("hparams");
        long experts = hp.get("qwen3moe.expert_count").asLong();
        long embd = hp.get("qwen3moe.embedding_length").asLong();
        long ff = hp.get("qwen3moe.expert_feed_forward_length").asLong();
        long layers = hp.get("qwen3moe.block_count").asLong();
        assertTrue(s.contains("experts: " + experts + " per layer in " + layers + " MoE layers"), s);
        // bytes of one expert in layer 0, from the recorded tensor types: gate and up [embd x ff], down [ff x embd]
        JsonNode types = facts.get("tensor_types");
        long perExpert = 0;
        for (String m : new String[] {"gate", "up", "down"})
            perExpert += GgmlType.valueOf(types.get("blk.0.ffn_" + m + "_exps.weight").asText()).bytesFor(embd * ff);
        assertTrue(s.contains("bytes per expert (gate+up+down): " + perExpert + " bytes"), s);
        facts.get("tensor_type_counts").fields().forEachRemaining(e ->
                assertTrue(s.contains("  " + e.getKey() + ": " + e.getValue().asInt() + " tensors"), e.getKey()));
        assertTrue(s.endsWith("supported: yes\n"), s);
    }

    @Test
    void deepSeekIsSupportedAndItsMoeLayersCounted() {
        String s = describe("deepseek2-lite-tiny-F32");
        assertTrue(s.endsWith("supported: yes\n"), s);
        assertTrue(s.contains("experts: 8 per layer in 2 MoE layers"), s);
    }

    @Test
    void unsupportedArchitectureIsNamed() throws IOException {
        Path p = dir.resolve("mamba.gguf");
        new GgufWriter().putString("general.architecture", "mamba")
                .addTensor("w", GgmlType.F32, new long[] {4}, GgufWriter.ofFloats(GgmlType.F32, new float[4])).write(p);
        try (GgufFile f = GgufFile.open(p)) {
            String s = GgufSummary.describe(f);
            assertTrue(s.contains("supported: no — architecture mamba is not supported (supported: " + Architectures.supportedList() + ")"), s);
            assertTrue(Architectures.supportedList().startsWith("bailingmoe2, deepseek2, dots1, ernie4_5-moe, glm4moe, gpt-oss, granitemoe,"), s);
        }
    }

    @Test
    void unsupportedTensorTypeIsNamed() throws IOException {
        Path p = dir.resolve("i8.gguf");
        new GgufWriter().putString("general.architecture", "llama")
                .addTensor("w", GgmlType.I8, new long[] {4}, GgufWriter.ofBytes(new byte[4])).write(p);
        try (GgufFile f = GgufFile.open(p)) {
            String s = GgufSummary.describe(f);
            assertTrue(s.contains("supported: no — tensor 'w' has type I8, which moeflow does not support; supported types: F32, F16,"), s);
            assertTrue(s.contains("  I8: 1 tensors, 4 bytes (not supported)\n"), s);
            assertTrue(s.contains("tokenizer: model -, pre -, vocab -, bos -, eos -"), s);
        }
    }

    /** Files with IQ and ternary tensors open (ggml's sizes) and are reported supported. */
    @Test
    void iqTypesAreReadAndSupported() throws IOException {
        Path p = dir.resolve("iq.gguf");
        GgufWriter w = new GgufWriter().putString("general.architecture", "llama");
        GgmlType[] types = {GgmlType.IQ4_NL, GgmlType.IQ4_XS, GgmlType.IQ2_XXS, GgmlType.IQ2_XS, GgmlType.IQ2_S,
                GgmlType.IQ3_XXS, GgmlType.IQ3_S, GgmlType.IQ1_S, GgmlType.IQ1_M, GgmlType.TQ1_0, GgmlType.TQ2_0};
        for (GgmlType t : types)
            w.addTensor("w." + t, t, new long[] {256, 3}, GgufWriter.ofBytes(new byte[(int) t.bytesFor(768)]));
        w.write(p);
        try (GgufFile f = GgufFile.open(p)) {
            for (GgmlType t : types) assertEquals(t.bytesFor(768), f.tensor("w." + t).byteSize(), t.name());
            String s = GgufSummary.describe(f);
            for (GgmlType t : types) assertTrue(s.contains("  " + t + ": 1 tensors, " + t.bytesFor(768) + " bytes"), s);
            assertTrue(s.endsWith("supported: yes\n"), s);
        }
    }

    /**
     * A type moeflow lacks (NVFP4, Q1_0: ggml types without a moeflow kernel): the file opens, inspect names each
     * type with its first tensor, and loading refuses the file with the same words.
     */
    @Test
    void typeMoeflowLacksIsNamedByInspectAndRefusedAtLoad() throws IOException {
        Path p = dir.resolve("nvfp4.gguf");
        new GgufWriter().putString("general.architecture", "llama")
                .addTensor("blk.0.ffn_down.weight", GgmlType.NVFP4, new long[] {64, 2}, GgufWriter.ofBytes(new byte[72]))
                .addTensor("blk.1.ffn_down.weight", GgmlType.NVFP4, new long[] {64, 2}, GgufWriter.ofBytes(new byte[72]))
                .addTensor("blk.0.ffn_up.weight", GgmlType.Q1_0, new long[] {128}, GgufWriter.ofBytes(new byte[18]))
                .addTensor("output_norm.weight", GgmlType.F32, new long[] {4}, GgufWriter.ofFloats(GgmlType.F32, new float[4]))
                .write(p);
        String why = "tensor 'blk.0.ffn_down.weight' has type NVFP4, which moeflow does not support (nor 1 more tensor of that type);"
                + " tensor 'blk.0.ffn_up.weight' has type Q1_0, which moeflow does not support; supported types: "
                + io.moeflow.kernels.Formats.supported();
        try (GgufFile f = GgufFile.open(p)) {
            String s = GgufSummary.describe(f);
            assertTrue(s.contains("supported: no — " + why + "\n"), s);
            assertTrue(s.contains("  NVFP4: 2 tensors, 144 bytes (not supported)\n"), s);
            assertTrue(io.moeflow.kernels.Formats.supported().contains("IQ2_XXS"), io.moeflow.kernels.Formats.supported());
        }
        try (var pool = new io.moeflow.kernels.WorkerPool(1)) {
            var e = assertThrows(IllegalArgumentException.class, () -> io.moeflow.model.Models.load(p, pool));
            assertEquals(p + ": " + why, e.getMessage());
        }
    }
}
