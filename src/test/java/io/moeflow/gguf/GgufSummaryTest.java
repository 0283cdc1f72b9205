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
            assertTrue(s.contains("supported: no — architecture mamba is not supported (supported: deepseek2, gpt-oss, llama, olmoe, qwen2moe, qwen3moe)"), s);
        }
    }

    @Test
    void unsupportedTensorTypeIsNamed() throws IOException {
        Path p = dir.resolve("i8.gguf");
        new GgufWriter().putString("general.architecture", "llama")
                .addTensor("w", GgmlType.I8, new long[] {4}, GgufWriter.ofBytes(new byte[4])).write(p);
        try (GgufFile f = GgufFile.open(p)) {
            String s = GgufSummary.describe(f);
            assertTrue(s.contains("supported: no — tensor type I8 not supported"), s);
            assertTrue(s.contains("tokenizer: model -, pre -, vocab -, bos -, eos -"), s);
        }
    }
}
