package io.moeflow.api;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.networknt.schema.JsonSchema;
import com.networknt.schema.JsonSchemaFactory;
import com.networknt.schema.SpecVersion;
import io.moeflow.engine.Detokenizer;
import io.moeflow.engine.SamplingParams;
import io.moeflow.engine.TokenConstraint;
import io.moeflow.engine.grammar.GrammarConstraint;
import io.moeflow.engine.grammar.TokenTrie;
import io.moeflow.gguf.GgufFile;
import io.moeflow.gguf.synth.SynthFileType;
import io.moeflow.gguf.synth.SynthShape;
import io.moeflow.gguf.synth.SyntheticModel;
import io.moeflow.kernels.WorkerPool;
import io.moeflow.model.DecoderModel;
import io.moeflow.model.Models;
import io.moeflow.scheduler.BatchScheduler;
import io.moeflow.scheduler.FinishReason;
import io.moeflow.scheduler.GenerationEngine;
import io.moeflow.scheduler.GenerationRequest;
import io.moeflow.scheduler.SchedulerConfig;
import io.moeflow.scheduler.TokenEvent;
import io.moeflow.tokenizer.Tokenizer;
import io.moeflow.tokenizer.Vocabulary;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;
import org.junit.jupiter.api.io.TempDir;

/**
 * The proof: a JSON-schema request to a random-weight model returns JSON valid against the schema at every
 * one of 20 seeds, at temperature 1, the 20 generations decoded together in one batch (each step samples several
 * sequences, each under its own constraint state). The model is a synthetic qwen3moe with random weights and the
 * vocabulary of a real model: stories260K's SentencePiece tok512 (byte fallback) or GPT-2's byte-level BPE (50k
 * tokens). Validity is judged by Jackson and networknt's validator. The same seeds without the constraint give no
 * valid JSON, so the constraint is what makes it.
 */
public class StructuredOutputTest {
    public static final String SCHEMA = """
            {"type": "object", "additionalProperties": false,
             "properties": {
               "name": {"type": "string", "maxLength": 10},
               "age": {"type": "integer"},
               "score": {"type": "number"},
               "tags": {"type": "array", "items": {"enum": ["a", "b", "c"]}, "maxItems": 3},
               "ok": {"type": "boolean"},
               "pet": {"anyOf": [{"type": "null"}, {"$ref": "#/$defs/pet"}]},
               "kind": {"const": "person"}
             },
             "required": ["name", "age", "tags", "ok", "kind"],
             "$defs": {"pet": {"type": "object", "properties": {"species": {"enum": ["cat", "dög"]}},
                               "required": ["species"], "additionalProperties": false}}}""";
    static final int SEEDS = 20;
    /** More than the schema's longest sentence in bytes (every allowed token has a byte). */
    static final int MAX_TOKENS = 1800;
    static final Duration TIMEOUT = Duration.ofMinutes(4);
    static final ObjectMapper STRICT = new ObjectMapper().enable(DeserializationFeature.FAIL_ON_TRAILING_TOKENS);

    static WorkerPool pool;
    @TempDir
    static Path dir;

    @BeforeAll
    static void start() {
        pool = new WorkerPool(2);
    }

    @AfterAll
    static void stop() {
        pool.close();
    }

    @ParameterizedTest
    @ValueSource(strings = {"models/stories260K/stories260K.gguf", "../shared/tokenizer/ggml-vocab-gpt-2.gguf"})
    void everySeedGivesValidJsonInOneBatch(String vocabularyFile) throws Exception {
        Path vocabPath = vocabularyFile.startsWith("../shared/")
                ? io.moeflow.testing.SharedFiles.require(vocabularyFile.substring("../shared/".length())) : Path.of(vocabularyFile);
        Tokenizer tokenizer;
        java.util.Map<String, io.moeflow.gguf.GgufValue> metadata;
        try (GgufFile f = GgufFile.open(vocabPath)) {
            tokenizer = Tokenizer.of(Vocabulary.fromGguf(f));
            metadata = SyntheticModel.tokenizerOf(f);
        }
        int vocab = tokenizer.vocabSize();
        SynthShape shape = new SynthShape("json-qwen3moe", "qwen3moe", 2, 256, 4, 2, 64, 0, 4, 2, 256, vocab, 2048, 1e6f, 1e-6f);
        Path model = dir.resolve(vocabPath.getFileName() + ".synth.gguf");
        new SyntheticModel(shape, SynthFileType.parse("Q8_0"), 7, null, metadata).write(model, 2, null);

        JsonNode schemaNode = STRICT.readTree(SCHEMA);
        JsonSchema validator = JsonSchemaFactory.getInstance(SpecVersion.VersionFlag.V202012).getSchema(schemaNode);
        TokenConstraint constraint = GrammarConstraint.of(JsonSchemaGrammar.compile(schemaNode, "schema"), TokenTrie.of(tokenizer));
        int[] prompt = tokenizer.encode("A person as JSON:", true, false);

        try (DecoderModel m = Models.load(model, pool);
             BatchScheduler scheduler = new BatchScheduler(m, Detokenizer.of(tokenizer), SchedulerConfig.withKvCacheBytes(256L << 20))) {
            AtomicInteger mostSampledInOneStep = new AtomicInteger();
            scheduler.onStep((batchTokens, generated) -> mostSampledInOneStep.accumulateAndGet(generated, Math::max));
            List<String> outputs = run(scheduler, prompt, constraint);
            for (int seed = 0; seed < SEEDS; seed++) {
                String out = outputs.get(seed);
                JsonNode value = STRICT.readTree(out); // throws when it is not JSON
                assertEquals(java.util.Set.of(), validator.validate(value), "seed " + seed + ": " + out);
            }
            assertTrue(mostSampledInOneStep.get() >= SEEDS / 2, "decoded in batches: " + mostSampledInOneStep.get());
            System.out.printf("%s: %d valid of %d, %.0f characters on average, most sampled in one step %d; seed 0: %s%n",
                    vocabPath.getFileName(), SEEDS, SEEDS, outputs.stream().mapToInt(String::length).average().orElse(0),
                    mostSampledInOneStep.get(), outputs.getFirst());

            List<String> free = run(scheduler, prompt, null);
            int validWithout = 0;
            for (String out : free) {
                try {
                    if (validator.validate(STRICT.readTree(out)).isEmpty()) validWithout++;
                } catch (Exception notJson) {
                    // expected: a random model writes no JSON of its own
                }
            }
            assertEquals(0, validWithout, "without the constraint the same seeds give no valid JSON: " + free.getFirst());
        }
    }

    /** The texts of SEEDS generations submitted together; each must end with STOP. */
    private static List<String> run(BatchScheduler scheduler, int[] prompt, TokenConstraint constraint) {
        List<GenerationRequest> requests = new ArrayList<>();
        for (int seed = 0; seed < SEEDS; seed++) {
            SamplingParams sampling = new SamplingParams(1f, 0, 1f, 0f, seed);
            int maxTokens = constraint == null ? 40 : MAX_TOKENS;
            requests.add(new GenerationRequest("json-" + seed, prompt, sampling, maxTokens, List.of(), null).withConstraint(constraint));
        }
        List<GenerationEngine.Handle> handles = scheduler.submitAll(requests, h -> {});
        List<String> outputs = new ArrayList<>();
        for (int seed = 0; seed < SEEDS; seed++) {
            List<TokenEvent> events = handles.get(seed).events().collect().asList().await().atMost(TIMEOUT);
            StringBuilder text = new StringBuilder();
            for (TokenEvent e : events) text.append(e.text());
            TokenEvent last = events.getLast();
            if (constraint != null) {
                assertEquals(FinishReason.STOP, last.finish(), "seed " + seed + " ends inside its grammar: " + last.errorMessage()
                        + " after " + text);
            }
            outputs.add(text.toString());
        }
        return outputs;
    }
}
