package io.moeflow.gguf;

import static org.junit.jupiter.api.Assertions.*;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.moeflow.kernels.GgmlType;
import io.moeflow.testing.SharedFiles;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.params.provider.ValueSource;

/** Reads the real GGUF files in ../shared and checks them against the facts llama.cpp's tooling recorded. */
class GgufGoldenFilesTest {
    private static final ObjectMapper JSON = new ObjectMapper();

    @ParameterizedTest
    @ValueSource(strings = {
            "golden/llama-dense-F32/llama-dense-F32", "golden/llama-dense-Q8_0/llama-dense-Q8_0",
            "golden/llama-dense-Q4_K_M/llama-dense-Q4_K_M", "golden/mixtral-tiny-F32/mixtral-tiny-F32",
            "golden/qwen3moe-tiny-F32/qwen3moe-tiny-F32", "golden/qwen3moe-tiny-Q8_0/qwen3moe-tiny-Q8_0",
            "golden/qwen3moe-tiny-Q4_K_M/qwen3moe-tiny-Q4_K_M", "golden/deepseek2-lite-tiny-F32/deepseek2-lite-tiny-F32",
            "golden/deepseek2-v3-tiny-F32/deepseek2-v3-tiny-F32", "golden/gptoss-tiny-F32/gptoss-tiny-F32",
            "models/stories260K/stories260K"})
    void metadataAndTensorsMatchTheRecordedFacts(String base) throws IOException {
        Path gguf = SharedFiles.require(base + ".gguf");
        JsonNode facts = JSON.readTree(SharedFiles.require(base + ".json").toFile());
        try (GgufFile f = GgufFile.open(gguf)) {
            assertEquals(facts.get("model_bytes").asLong(), f.fileSize());
            assertEquals(facts.get("arch").asText(), f.architecture());
            assertEquals(facts.get("general.file_type").asLong(), f.getLong("general.file_type", 0));
            assertEquals(facts.get("n_vocab").asInt(), f.getStringArray("tokenizer.ggml.tokens").length);

            JsonNode hparams = facts.get("hparams");
            for (Iterator<Map.Entry<String, JsonNode>> it = hparams.fields(); it.hasNext(); ) {
                Map.Entry<String, JsonNode> e = it.next();
                String key = e.getKey();
                JsonNode expected = e.getValue();
                assertTrue(f.has(key), key);
                if (expected.isIntegralNumber()) assertEquals(expected.asLong(), f.getLong(key), key);
                else if (expected.isFloatingPointNumber()) assertEquals((float) expected.asDouble(), f.getFloat(key), key);
                else if (expected.isBoolean()) assertEquals(expected.asBoolean(), f.getBool(key, !expected.asBoolean()), key);
                else if (expected.isTextual()) assertEquals(expected.asText(), f.getString(key), key);
                else if (expected.isArray()) assertEquals(expected.size(), f.value(key).array().length(), key);
                else fail("unexpected json value for " + key + ": " + expected);
            }
            // Every <arch>.* key of the file is in hparams, too.
            String prefix = f.architecture() + ".";
            long archKeys = f.metadata().keySet().stream().filter(k -> k.startsWith(prefix)).count();
            assertEquals(hparams.size(), archKeys);

            JsonNode types = facts.get("tensor_types");
            assertEquals(types.size(), f.tensors().size());
            Map<String, Integer> counts = new HashMap<>();
            for (Iterator<Map.Entry<String, JsonNode>> it = types.fields(); it.hasNext(); ) {
                Map.Entry<String, JsonNode> e = it.next();
                GgufTensor t = f.tensor(e.getKey());
                assertEquals(GgmlType.valueOf(e.getValue().asText()), t.type(), e.getKey());
                counts.merge(t.type().name(), 1, Integer::sum);
            }
            JsonNode typeCounts = facts.get("tensor_type_counts");
            assertEquals(typeCounts.size(), counts.size());
            typeCounts.fields().forEachRemaining(e -> assertEquals(e.getValue().asInt(), counts.get(e.getKey()), e.getKey()));

            // Tensors lie inside the file, aligned, without overlapping.
            List<GgufTensor> sorted = f.tensors().stream().sorted((a, b) -> Long.compare(a.offset(), b.offset())).toList();
            long end = f.dataOffset();
            for (GgufTensor t : sorted) {
                assertEquals(0, (t.offset() - f.dataOffset()) % f.alignment(), t.name());
                assertTrue(t.offset() >= end, t.name() + " overlaps the tensor before it");
                assertEquals(t.type().bytesFor(t.elements()), t.byteSize());
                assertEquals(t.byteSize(), t.data().byteSize());
                end = t.offset() + t.byteSize();
            }
            assertTrue(end <= f.fileSize());
        }
    }

    @Test
    void stories260KWeightsEqualTheLlama2cCheckpoint() throws IOException {
        Path gguf = SharedFiles.require("models/stories260K/stories260K.gguf");
        // llama2.c checkpoint: 7 int32 header fields, then token_embedding_table [vocab][dim], rms_att_weight [layers][dim], ...
        ByteBuffer bin = ByteBuffer.wrap(Files.readAllBytes(SharedFiles.require("models/stories260K/stories260K.bin")))
                .order(ByteOrder.LITTLE_ENDIAN);
        int dim = bin.getInt(0), layers = bin.getInt(8), vocab = Math.abs(bin.getInt(20));
        try (GgufFile f = GgufFile.open(gguf)) {
            assertEquals(dim, f.getInt("llama.embedding_length"));
            assertEquals(layers, f.getInt("llama.block_count"));
            GgufTensor embd = f.tensor("token_embd.weight");
            assertArrayEquals(new long[] {dim, vocab}, embd.ne());
            float[] e = embd.toFloats();
            for (int i = 0; i < e.length; i++) assertEquals(bin.getFloat(28 + 4 * i), e[i], "token_embd[" + i + "]");
            long normBase = 28 + 4L * vocab * dim;
            for (int l = 0; l < layers; l++) {
                float[] norm = f.tensor("blk." + l + ".attn_norm.weight").toFloats();
                assertEquals(dim, norm.length);
                for (int i = 0; i < dim; i++)
                    assertEquals(bin.getFloat((int) (normBase + 4L * (l * dim + i))), norm[i], "attn_norm " + l + "[" + i + "]");
            }
            // The 2-D view: rows = vocab, cols = dim, row r starts at r * dim floats.
            var m = embd.matrix();
            assertEquals(dim, m.cols());
            assertEquals(vocab, m.rows());
            assertEquals(bin.getFloat(28 + 4 * (5 * dim + 3)),
                    embd.data().get(GgufCursor.F32, m.rowOffset(5) + 4 * 3));
        }
    }

    @Test
    void expertSlicesOfMixtralCoverTheTensor() {
        Path gguf = SharedFiles.require("golden/mixtral-tiny-F32/mixtral-tiny-F32.gguf");
        try (GgufFile f = GgufFile.open(gguf)) {
            GgufTensor gate = f.tensor("blk.0.ffn_gate_exps.weight");
            long[] ne = gate.ne();
            assertEquals(3, ne.length);
            assertEquals(f.getLong("llama.expert_count"), ne[2]);
            assertEquals(f.getLong("llama.embedding_length"), ne[0]);
            float[] all = gate.toFloats();
            for (int e = 0; e < ne[2]; e++) {
                var m = gate.expert(e);
                assertEquals((int) ne[0], m.cols());
                assertEquals((int) ne[1], m.rows());
                // last value of expert e's last row == element at that position of the whole tensor
                long idx = (e + 1) * ne[0] * ne[1] - 1;
                assertEquals(all[(int) idx], gate.data().get(GgufCursor.F32, m.rowOffset(m.rows() - 1) + 4 * (ne[0] - 1)));
            }
            GgufException ex = assertThrows(GgufException.class, () -> gate.expert((int) ne[2]));
            assertTrue(ex.getMessage().contains("blk.0.ffn_gate_exps.weight"), ex.getMessage());
            ex = assertThrows(GgufException.class, () -> f.tensor("blk.0.attn_q.weight").expert(0));
            assertTrue(ex.getMessage().contains("blk.0.attn_q.weight"), ex.getMessage());
            ex = assertThrows(GgufException.class, () -> f.tensor("blk.9.attn_q.weight"));
            assertTrue(ex.getMessage().contains("missing tensor 'blk.9.attn_q.weight'"), ex.getMessage());
            assertTrue(f.findTensor("blk.9.attn_q.weight").isEmpty());
        }
    }

    /** Facts from ../shared/tokenizer/README.md (read from the files with llama.cpp's tooling). */
    @ParameterizedTest
    @CsvSource({
            "ggml-vocab-llama-spm.gguf, llama, llama, default, 32000",
            "ggml-vocab-phi-3.gguf, phi3, llama, default, 32064",
            "ggml-vocab-bert-bge.gguf, bert, bert, bert-bge, 30522",
            "ggml-vocab-deepseek-coder.gguf, llama, gpt2, deepseek-coder, 32256",
            "ggml-vocab-deepseek-llm.gguf, llama, gpt2, deepseek-llm, 102400",
            "ggml-vocab-falcon.gguf, falcon, gpt2, falcon, 65024",
            "ggml-vocab-gpt-2.gguf, gpt2, gpt2, gpt-2, 50257",
            "ggml-vocab-mpt.gguf, mpt, gpt2, mpt, 50432",
            "ggml-vocab-refact.gguf, refact, gpt2, refact, 49216",
            "ggml-vocab-starcoder.gguf, starcoder2, gpt2, starcoder, 49152"})
    void vocabOnlyFiles(String file, String arch, String model, String pre, int nTokens) {
        try (GgufFile f = GgufFile.open(SharedFiles.require("tokenizer/" + file))) {
            assertEquals(arch, f.architecture());
            assertEquals(model, f.getString("tokenizer.ggml.model"));
            assertEquals(pre, f.getString("tokenizer.ggml.pre"));
            assertEquals(nTokens, f.getStringArray("tokenizer.ggml.tokens").length);
            assertTrue(f.tensors().isEmpty());
            int[] types = f.getIntArray("tokenizer.ggml.token_type");
            if (types != null) assertEquals(nTokens, types.length);
            if (model.equals("gpt2")) assertTrue(f.getStringArray("tokenizer.ggml.merges").length > 0);
        }
    }

    @Test
    void everyGoldenDirectoryIsCovered() throws IOException {
        Path golden = SharedFiles.require("golden");
        try (Stream<Path> dirs = Files.list(golden)) {
            long models = dirs.filter(d -> Files.exists(d.resolve(d.getFileName() + ".gguf"))).count();
            assertEquals(10, models, "a new golden model appeared: add it to metadataAndTensorsMatchTheRecordedFacts");
        }
    }
}
