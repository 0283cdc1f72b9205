package io.moeflow.scheduler;

import static io.moeflow.scheduler.SchedulerTesting.*;
import static io.moeflow.testing.TokenArrays.concat;
import static org.junit.jupiter.api.Assertions.*;

import io.moeflow.engine.Detokenizer;
import io.moeflow.engine.SamplingParams;
import io.moeflow.kernels.WorkerPool;
import io.moeflow.model.DecoderModel;
import io.moeflow.model.KvCache;
import io.moeflow.model.Models;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

/**
 * Prefix caching in the scheduler over the bundled stories260K (F32, so a reused prefix gives bit-identical logits,
 * PrefixReuseLogitsTest): requests sharing a system prompt, run together after it was cached, in a pool small enough
 * to evict and preempt, generate exactly what they generate without the cache, greedy and sampled.
 */
class PrefixCacheRealModelTest {
    @Test
    void requestsSharingASystemPromptGenerateWhatTheyGenerateWithoutTheCache() {
        Detokenizer ids = Detokenizer.perToken(t -> "|" + t + "|", t -> t == 2);
        try (WorkerPool pool = new WorkerPool(1); DecoderModel m = Models.load(Path.of("models/stories260K/stories260K.gguf"), pool)) {
            int vocab = m.info().vocabSize();
            SplittableRandom r = new SplittableRandom(3);
            int[] system = concat(new int[] {1}, r.ints(52, 3, vocab).toArray()); // three full blocks and 5 tokens
            List<GenerationRequest> requests = new ArrayList<>();
            for (int i = 0; i < 6; i++) {
                int[] p = concat(system, r.ints(2 + 3 * i, 3, vocab).toArray());
                SamplingParams s = i % 2 == 0 ? SamplingParams.GREEDY : new SamplingParams(0.8f, 40, 0.95f, 0.05f, i);
                requests.add(new GenerationRequest("p" + i, p, s, 24, null, null, true));
            }
            GenerationRequest warm = new GenerationRequest("warm", concat(system, new int[] {5}), SamplingParams.GREEDY, 2,
                    null, null, true);
            long block = m.newKvCache(1).bytesPerToken() * KvCache.BLOCK;
            // 14 blocks: six sequences of 5-6 blocks do not fit at once
            for (int blocks : new int[] {64, 14}) {
                SchedulerConfig cfg = new SchedulerConfig(blocks * block, 32, 8, 16);
                List<Outcome> expected = new ArrayList<>();
                for (GenerationRequest q : requests) {
                    try (BatchScheduler s = new BatchScheduler(m, ids, cfg.withPrefixCache(false))) {
                        expected.add(collect(s.submit(q)));
                    }
                }
                try (BatchScheduler s = new BatchScheduler(m, ids, cfg)) {
                    collect(s.submit(warm));
                    List<GenerationEngine.Handle> handles = s.submitAll(requests, h -> {});
                    for (int i = 0; i < requests.size(); i++) {
                        collect(handles.get(i)).assertSameAs(expected.get(i), requests.get(i).id() + " in " + blocks + " blocks");
                    }
                    SchedulerStats st = s.stats();
                    assertTrue(st.prefixHitTokens() >= requests.size() * 3L * KvCache.BLOCK,
                            "each found the system prompt's three blocks: " + st.prefixHitTokens());
                    if (blocks == 14) assertTrue(st.preemptions() > 0, "the small pool preempted");
                    await(() -> s.freeKvBlocks() == s.totalKvBlocks(), "every block back");
                }
            }
        }
    }
}
