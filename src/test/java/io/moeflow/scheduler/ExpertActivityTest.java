package io.moeflow.scheduler;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.moeflow.engine.Detokenizer;
import io.moeflow.engine.SamplingParams;
import io.moeflow.kernels.WorkerPool;
import io.moeflow.model.DecoderModel;
import io.moeflow.model.ForwardBatch;
import io.moeflow.model.KvCache;
import io.moeflow.model.Model;
import io.moeflow.model.ModelInfo;
import io.moeflow.model.Models;
import io.moeflow.model.StepStats;
import io.moeflow.testing.TinySynthMoe;
import io.moeflow.tokenizer.Tokenizer;
import io.moeflow.tokenizer.Vocabulary;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

/**
 * The windowed per-(layer, expert) counts behind GET /v1/stats/experts: after real generations on a synthetic MoE,
 * they equal the router's decisions as the model reports them token by token ({@link StepStats.RoutingTrace}), and
 * the ring of one-second buckets forgets what is older than the window.
 */
class ExpertActivityTest {

    /** The model, with every router decision of every step counted by the routing trace. */
    private static final class TracedModel implements Model {
        final Model real;
        final long[][] routed;

        TracedModel(Model real) {
            this.real = real;
            routed = new long[real.info().layers()][real.info().expertCount()];
        }

        @Override
        public ModelInfo info() {
            return real.info();
        }

        @Override
        public KvCache newKvCache(int blocks) {
            return real.newKvCache(blocks);
        }

        @Override
        public void forward(ForwardBatch batch, KvCache kv, float[] logits, StepStats stats) {
            stats.routing = (layer, token, experts, from, k) -> {
                for (int i = from; i < from + k; i++) routed[layer][experts[i]]++;
            };
            real.forward(batch, kv, logits, stats);
        }

        @Override
        public void close() {
            real.close();
        }
    }

    @Test
    void countsAreTheRoutersDecisionsOfEveryStep() {
        int maxTokens = 10;
        try (WorkerPool pool = new WorkerPool(1); DecoderModel model = Models.load(TinySynthMoe.path(), pool)) {
            Tokenizer tokenizer = Tokenizer.of(Vocabulary.fromGguf(model.file()));
            TracedModel traced = new TracedModel(model);
            int[][] prompts = {tokenizer.encode("Once upon a time", true, true),
                    tokenizer.encode("The little dog ran to the park and", true, true)};
            long kv = model.newKvCache(1).bytesPerToken() * KvCache.BLOCK * 8;
            try (BatchScheduler scheduler = new BatchScheduler(traced, Detokenizer.of(tokenizer),
                    new SchedulerConfig(kv, SchedulerConfig.DEFAULT_MAX_BATCH_TOKENS, 2, 4))) {
                long[][] before = scheduler.expertActivity(BatchScheduler.MAX_ACTIVITY_SECONDS);
                for (long[] row : before) assertNull(row, "no layer has routed before the first step");

                List<GenerationEngine.Handle> handles = new ArrayList<>();
                for (int i = 0; i < prompts.length; i++) {
                    handles.add(scheduler.submit(new GenerationRequest("r" + i, prompts[i], SamplingParams.GREEDY,
                            maxTokens, null, null, true)));
                }
                int fed = 0;
                for (int i = 0; i < handles.size(); i++) {
                    TokenEvent last = handles.get(i).events().collect().last().await().indefinitely();
                    assertEquals(maxTokens, last.usage().completionTokens());
                    fed += prompts[i].length + maxTokens - 1; // the last token sampled is never fed
                }

                long[][] counts = scheduler.expertActivity(BatchScheduler.MAX_ACTIVITY_SECONDS);
                ModelInfo info = model.info();
                assertEquals(info.layers(), counts.length);
                for (int l = 0; l < info.layers(); l++) {
                    assertNotNull(counts[l], "layer " + l + " is a MoE layer");
                    assertArrayEquals(traced.routed[l], counts[l], "layer " + l);
                    long sum = 0;
                    for (long c : counts[l]) sum += c;
                    assertEquals((long) fed * info.expertUsedCount(), sum, "every fed token chose top-k experts in layer " + l);
                }
                long[][] lastSecond = scheduler.expertActivity(1);
                for (int l = 0; l < info.layers(); l++)
                    for (int e = 0; e < info.expertCount(); e++)
                        assertTrue(lastSecond[l][e] <= counts[l][e], "a shorter window counts no more");
                assertThrows(IllegalArgumentException.class, () -> scheduler.expertActivity(0));
                assertThrows(IllegalArgumentException.class, () -> scheduler.expertActivity(BatchScheduler.MAX_ACTIVITY_SECONDS + 1));
            }
        }
    }

    @Test
    void theWindowForgetsOlderSecondsAndTheRingReusesItsBuckets() {
        ExpertActivity activity = new ExpertActivity(3);
        int[][] step = {null, {1, 0, 2}, {0, 5}};
        activity.add(step, 1000);
        activity.add(step, 1000);
        activity.add(new int[][] {null, {0, 1, 0}, {1, 0}}, 1004);

        long[][] all = activity.window(10, 1009);
        assertNull(all[0], "a dense layer has no row");
        assertArrayEquals(new long[] {2, 1, 4}, all[1]);
        assertArrayEquals(new long[] {1, 10}, all[2]);
        // seconds 1001..1010: only the step at 1004
        long[][] later = activity.window(10, 1010);
        assertArrayEquals(new long[] {0, 1, 0}, later[1]);
        assertArrayEquals(new long[] {1, 0}, later[2]);
        // 1000 + 60 falls into the bucket of 1000: what it held is dropped, not added to
        activity.add(new int[][] {null, {0, 0, 7}, {0, 0}}, 1000 + ExpertActivity.MAX_SECONDS);
        long[][] wrapped = activity.window(ExpertActivity.MAX_SECONDS, 1000 + ExpertActivity.MAX_SECONDS);
        assertArrayEquals(new long[] {0, 1, 7}, wrapped[1]);
        assertArrayEquals(new long[] {1, 0}, wrapped[2]);
    }
}
