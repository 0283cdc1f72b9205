package io.moeflow.scheduler;

import static io.moeflow.scheduler.SchedulerTesting.*;
import static org.junit.jupiter.api.Assertions.*;

import io.moeflow.engine.Detokenizer;
import io.moeflow.engine.SamplingParams;
import io.moeflow.kernels.WorkerPool;
import io.moeflow.model.DecoderModel;
import io.moeflow.model.ForwardBatch;
import io.moeflow.model.KvCache;
import io.moeflow.model.Logits;
import io.moeflow.model.Models;
import io.moeflow.testing.SharedFiles;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * The scheduler over real models (the trained stories260K and the golden MoE models of llama.cpp): batching
 * changes no token and no logit beyond 1e-4, and every KV block comes back.
 */
class RealModelSchedulerTest {
    /** The 32 golden token ids (tok512 tokenization of a sentence), shared by all these models. */
    private static final int[] GOLDEN = {1, 403, 407, 261, 378, 432, 383, 286, 261, 376, 298, 315, 421, 395, 317, 426,
            338, 401, 396, 267, 337, 410, 408, 419, 292, 411, 322, 265, 282, 295, 433, 426};

    private static Path model(String name) {
        return SharedFiles.require(name.equals("stories260K") ? "models/stories260K/stories260K.gguf"
                : "golden/" + name + "/" + name + ".gguf");
    }

    private static int[] prefix(int from, int length) {
        int[] p = new int[length];
        p[0] = 1; // BOS
        System.arraycopy(GOLDEN, from, p, 1, length - 1);
        return p;
    }

    /**
     * Ids as text ("|id|") and tok512's EOS (2) as end of generation: enough for stop strings and stop tokens
     * without depending on the tokenizer's wiring.
     */
    private static final Detokenizer IDS = Detokenizer.perToken(t -> "|" + t + "|", t -> t == 2);

    /** Different lengths, limits and stop conditions (a stop string, stop tokens, EOS). */
    private static List<GenerationRequest> requests(SamplingParams sampling, int stopToken, String stopString) {
        int[][] prompts = {prefix(1, 3), prefix(1, 20), prefix(9, 8), prefix(3, 29), prefix(20, 12)};
        int[] maxTokens = {24, 16, 30, 8, 20};
        List<GenerationRequest> out = new ArrayList<>();
        for (int i = 0; i < prompts.length; i++) {
            SamplingParams p = sampling.greedy() ? sampling : sampling.withSeed(7 * i + 1);
            List<String> stops = i == 2 ? List.of(stopString) : null;
            int[] stopTokens = i == 1 ? new int[] {stopToken} : null;
            out.add(new GenerationRequest("m" + i, prompts[i], p, maxTokens[i], stops, stopTokens, i == 4));
        }
        return out;
    }

    @ParameterizedTest
    @ValueSource(strings = {"stories260K", "qwen3moe-tiny-F32", "mixtral-tiny-F32"})
    void batchedGenerationGivesEachRequestItsTokensAlone(String name) {
        Path file = model(name);
        try (WorkerPool pool = new WorkerPool(1); DecoderModel m = Models.load(file, pool)) {
            Detokenizer text = IDS;
            long blockBytes = m.newKvCache(1).bytesPerToken() * KvCache.BLOCK;
            SchedulerConfig roomy = new SchedulerConfig(64 * blockBytes, 24, 8, 16);
            // 6 blocks: not all five fit at once, so some wait for KV memory and are served later
            SchedulerConfig tight = new SchedulerConfig(6 * blockBytes, 24, 8, 16);
            // stop conditions the model does meet: tokens from its own unconstrained greedy output
            int stopToken;
            String stopString;
            try (BatchScheduler s = new BatchScheduler(m, text, roomy)) {
                stopToken = collect(s.submit(request("probe1", prefix(1, 20), 16))).tokens().get(5);
                stopString = "|" + collect(s.submit(request("probe2", prefix(9, 8), 30))).tokens().get(7) + "|";
            }
            // with penalties and a bias too: their per-sequence counts must not leak between the sequences of a batch
            SamplingParams penalized = new SamplingParams(0.8f, 40, 0.95f, 0.05f, 0).withPenalties(0.4f, 0.6f, 1.3f, 16)
                    .withLogitBias(io.moeflow.engine.LogitBias.of(java.util.Map.of(383, -100f, 261, 2f)));
            for (SamplingParams sampling : List.of(SamplingParams.GREEDY, new SamplingParams(0.8f, 40, 0.95f, 0.05f, 0),
                    penalized, SamplingParams.GREEDY.withPenalties(0.5f, 0.8f, 1.5f, -1))) {
                List<GenerationRequest> requests = requests(sampling, stopToken, stopString);
                List<Outcome> reference = new ArrayList<>();
                for (GenerationRequest r : requests) {
                    try (BatchScheduler s = new BatchScheduler(m, text, roomy)) {
                        reference.add(collect(s.submit(r)));
                        assertAllKvFree(s);
                    }
                }
                if (sampling == SamplingParams.GREEDY) assertTrue(reference.stream().map(Outcome::finish).distinct().count() >= 2,
                        name + ": the stop conditions should end requests differently, got "
                                + reference.stream().map(Outcome::finish).toList());
                for (SchedulerConfig cfg : List.of(roomy, tight)) {
                    try (BatchScheduler s = new BatchScheduler(m, text, cfg)) {
                        List<Outcome> batched = together(s, requests);
                        for (int i = 0; i < requests.size(); i++) {
                            batched.get(i).assertSameAs(reference.get(i), name + " " + sampling + " " + requests.get(i).id());
                        }
                        SchedulerStats st = s.stats();
                        if (m.info().expertCount() > 0) {
                            // grouping: every selected expert ran once per step, whatever the number of its tokens
                            assertArrayEquals(st.distinctExpertsPerLayer(), st.expertInvocationsPerLayer());
                            for (long d : st.distinctExpertsPerLayer()) assertTrue(d <= st.steps() * m.info().expertCount());
                        }
                    }
                }
            }
        }
    }

    @ParameterizedTest
    @ValueSource(strings = {"qwen3moe-tiny-F32", "mixtral-tiny-F32", "stories260K"})
    void aBatchedStepGivesTheLogitsOfEachSequenceAlone(String name) {
        try (WorkerPool pool = new WorkerPool(1); DecoderModel m = Models.load(model(name), pool)) {
            int vocab = m.info().vocabSize();
            int[][] seqs = {prefix(1, 20), prefix(5, 27), prefix(12, 10)};
            float[][] alone = new float[seqs.length][];
            for (int i = 0; i < seqs.length; i++) alone[i] = Logits.compute(m, seqs[i], false, null);
            KvCache kv = m.newKvCache(16);
            int[] ids = new int[seqs.length];
            for (int i = 0; i < seqs.length; i++) {
                ids[i] = kv.newSequence();
                assertTrue(kv.ensureCapacity(ids[i], seqs[i].length));
            }
            // step 1: chunks of two prompts; step 2: the rest of them plus a third whole prompt;
            // then one token each per step (decode), interleaved as the scheduler would
            int[][][] plan = {{{0, 0, 12}, {1, 0, 9}}, {{0, 12, 19}, {1, 9, 26}, {2, 0, 10}}, {{0, 19, 20}, {1, 26, 27}}};
            ForwardBatch b = new ForwardBatch(64);
            float[] logits = new float[64 * vocab];
            double worst = 0;
            for (int[][] step : plan) {
                b.clear();
                for (int[] chunk : step) {
                    for (int p = chunk[1]; p < chunk[2]; p++) b.add(seqs[chunk[0]][p], p, ids[chunk[0]], true);
                }
                m.forward(b, kv, logits, null);
                for (int t = 0; t < b.size; t++) {
                    int seq = -1;
                    for (int i = 0; i < ids.length; i++) if (ids[i] == b.seqIds[t]) seq = i;
                    int pos = b.positions[t];
                    for (int v = 0; v < vocab; v++) {
                        double diff = Math.abs(logits[t * vocab + v] - alone[seq][pos * vocab + v]);
                        worst = Math.max(worst, diff);
                    }
                }
            }
            assertTrue(worst <= 1e-4, name + ": batched logits differ from single-sequence ones by " + worst);
            for (int id : ids) kv.freeSequence(id);
            assertEquals(kv.totalBlocks(), kv.freeBlocks());
        }
    }
}
