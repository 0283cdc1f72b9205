package io.moeflow.model;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.moeflow.kernels.WorkerPool;
import io.moeflow.testing.Golden;
import io.moeflow.testing.SharedFiles;
import java.io.IOException;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;

/** The real, trained stories260K model: logits and greedy generation as llama.cpp computed them. */
class Stories260KTest {
    /** The bundled copy, so the test also runs where ../shared is absent (the json with the ids is in ../shared). */
    static final Path BUNDLED = Path.of("models/stories260K/stories260K.gguf");

    @Test
    void logitsMatchLlamaCpp() throws IOException {
        Path dir = SharedFiles.require("models/stories260K");
        JsonNode meta = new ObjectMapper().readTree(dir.resolve("stories260K.json").toFile());
        float[] expected = Golden.readF32(dir.resolve("stories260K.logits.f32"));
        try (WorkerPool pool = new WorkerPool(2); DecoderModel m = Models.load(BUNDLED, pool)) {
            int[] tokens = Golden.ints(meta.get("token_ids"));
            GoldenLogitsTest.assertClose(expected, Logits.compute(m, tokens, false, null), "stories260K batch");
            GoldenLogitsTest.assertClose(expected, Logits.compute(m, tokens, true, null), "stories260K decode");
        }
    }

    @Test
    void greedyGenerationMatchesLlamaCpp() throws IOException {
        Path dir = SharedFiles.require("models/stories260K");
        JsonNode g = new ObjectMapper().readTree(dir.resolve("stories260K.json").toFile()).get("greedy_generation");
        int[] prompt = Golden.ints(g.get("prompt_ids"));
        int[] expected = Golden.ints(g.get("generated_ids"));
        try (WorkerPool pool = new WorkerPool(2); DecoderModel m = Models.load(BUNDLED, pool)) {
            int vocab = m.info().vocabSize();
            KvCache kv = m.newKvCache(KvCache.blocksFor(prompt.length + expected.length));
            int seq = kv.newSequence();
            kv.ensureCapacity(seq, prompt.length + expected.length);
            ForwardBatch b = new ForwardBatch(prompt.length);
            for (int i = 0; i < prompt.length; i++) b.add(prompt[i], i, seq, i == prompt.length - 1);
            float[] logits = new float[vocab];
            int[] generated = new int[expected.length];
            for (int i = 0; i < expected.length; i++) {
                m.forward(b, kv, logits, null);
                int best = 0;
                for (int v = 1; v < vocab; v++) if (logits[v] > logits[best]) best = v;
                generated[i] = best;
                b.clear();
                b.add(best, prompt.length + i, seq, true);
            }
            assertArrayEquals(expected, generated);
        }
    }
}
