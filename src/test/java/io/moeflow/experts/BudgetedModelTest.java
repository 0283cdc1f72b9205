package io.moeflow.experts;

import static io.moeflow.experts.BudgetedLogitsTest.assertSameLogits;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.moeflow.engine.Detokenizer;
import io.moeflow.engine.SamplingParams;
import io.moeflow.gguf.GgufTensor;
import io.moeflow.kernels.WorkerPool;
import io.moeflow.model.DecoderModel;
import io.moeflow.model.KvCache;
import io.moeflow.model.Logits;
import io.moeflow.model.Models;
import io.moeflow.model.StepStats;
import io.moeflow.scheduler.BatchScheduler;
import io.moeflow.scheduler.FinishReason;
import io.moeflow.scheduler.GenerationRequest;
import io.moeflow.scheduler.SchedulerConfig;
import io.moeflow.scheduler.TokenEvent;
import io.moeflow.testing.Golden;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.nio.file.attribute.FileTime;
import java.time.Duration;
import java.util.List;
import java.util.Set;
import java.util.TreeSet;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Budgeted mode inside the model and the scheduler: prefetch, read faults, a changed model file. */
class BudgetedModelTest {
    static final String NAME = "qwen3moe-tiny-Q8_0";
    static WorkerPool pool;
    static Path gguf;
    static int[] tokens;
    static DecoderModel resident;

    @BeforeAll
    static void open() throws IOException {
        Golden g = Golden.of(NAME);
        gguf = g.gguf();
        tokens = g.tokens();
        pool = new WorkerPool(2);
        resident = Models.load(gguf, pool);
    }

    @AfterAll
    static void close() {
        if (resident != null) resident.close();
        if (pool != null) pool.close();
    }

    static ExpertStoreConfig plain(String budget, boolean prefetch, ExpertReader.Factory readers) {
        return new ExpertStoreConfig(ExpertStoreConfig.Mode.BUDGETED, budget, EvictionPolicy.LFU, prefetch, 2, readers);
    }

    @Test
    void aCacheHoldingOnlyOtherExpertsChangesNothingButTheCounters() {
        // the experts the first token does not use, per layer
        int[] first = {tokens[0]};
        List<Set<Integer>> unused = List.of(new TreeSet<>(), new TreeSet<>());
        for (Set<Integer> u : unused) for (int e = 0; e < 16; e++) u.add(e);
        StepStats trace = new StepStats();
        trace.routing = (layer, token, experts, from, k) -> {
            for (int i = 0; i < k; i++) unused.get(layer).remove(experts[from + i]);
        };
        Logits.compute(resident, first, false, trace);
        assertEquals(12, unused.get(0).size());

        float[] r = null, b = null;
        for (int attempt = 0; attempt < BudgetedLogitsTest.TRIES; attempt++) {
            try (DecoderModel m = Models.load(gguf, pool, plain("100%", false, FileExpertReader.factory(false)))) {
                ExpertStore s = m.expertStore();
                for (int l = 0; l < 2; l++) { // the cache first holds (only) the experts this step does not use
                    int[] wrong = unused.get(l).stream().mapToInt(Integer::intValue).toArray();
                    StoreSteps.hold(s.layer(l), wrong, 0, wrong.length);
                    s.layer(l).release(wrong, 0, wrong.length);
                }
                ExpertCacheStats before = s.stats();
                assertEquals(24, before.total().reads(), before.summary());
                b = Logits.compute(m, first, false, null);
                ExpertCacheStats st = s.stats().since(before);
                assertEquals(8, st.total().hits() + st.total().misses(), "demand acquisitions: 4 experts x 2 layers");
                assertEquals(8, st.total().misses(), "none of the needed experts came from what the cache held");
            }
            r = Logits.compute(resident, first, false, null);
            if (java.util.Arrays.equals(r, b)) break;
        }
        assertArrayEquals(r, b, "logits with a cache of other experts");
    }

    @Test
    void predictedPrefetchKeepsLogitsAndDemandCounts() {
        ExpertCacheStats on, off;
        try (DecoderModel m = Models.load(gguf, pool, plain("25%", true, FileExpertReader.factory(false)))) {
            assertSameLogits(resident, m, tokens, true, "decode with prefetch");
            on = m.expertStore().stats();
        }
        try (DecoderModel m = Models.load(gguf, pool, plain("25%", false, FileExpertReader.factory(false)))) {
            assertSameLogits(resident, m, tokens, true, "decode without prefetch");
            off = m.expertStore().stats();
        }
        assertTrue(on.total().prefetchIssued() > 0, on.summary());
        assertEquals(0, off.total().prefetchIssued(), off.summary());
        assertTrue(on.total().prefetchUseful() <= on.total().prefetchIssued());
        // decode: one token per step, so each layer acquires exactly its 4 routed experts per token, whatever was prefetched
        for (ExpertCacheStats st : List.of(on, off))
            for (ExpertCacheStats.Layer l : st.layers()) assertEquals(4 * st.tokens(), l.hits() + l.misses(), st.summary());
    }

    @Test
    void aFailingReadFailsTheStepClearlyAndTheNextStepWorks() {
        TestReaders readers = new TestReaders(false);
        try (DecoderModel m = Models.load(gguf, pool, plain("25%", true, readers))) {
            GgufTensor up = m.file().tensor("blk.1.ffn_up_exps.weight");
            readers.failAt = p -> p >= up.offset() && p < up.offset() + up.byteSize();
            var e = assertThrows(ExpertReadException.class, () -> Logits.compute(m, tokens, false, null));
            assertEquals(1, e.layer());
            assertTrue(e.getMessage().contains("of layer 1 from " + gguf) && e.getMessage().contains("blk.1.ffn_up_exps")
                    && e.getMessage().contains("injected I/O error"), e.getMessage());
            readers.failAt = p -> false;
            assertSameLogits(resident, m, tokens, false, "after the fault, batch");
            assertSameLogits(resident, m, tokens, true, "after the fault, decode");
        }
    }

    @Test
    void theSchedulerFailsTheRequestsOfAFailedStepAndGoesOn() {
        TestReaders readers = new TestReaders(false);
        Detokenizer ids = Detokenizer.perToken(t -> "|" + t + "|", t -> false);
        try (DecoderModel m = Models.load(gguf, pool, plain("10%", true, readers))) {
            long block = m.newKvCache(1).bytesPerToken() * KvCache.BLOCK;
            try (BatchScheduler s = new BatchScheduler(m, ids, new SchedulerConfig(16 * block, 64, 4, 8))) {
                readers.failAt = p -> true;
                List<TokenEvent> failed = run(s, "broken");
                TokenEvent last = failed.getLast();
                assertEquals(FinishReason.ERROR, last.finish());
                assertTrue(last.errorMessage() != null && last.errorMessage().contains("injected I/O error"), String.valueOf(last));
                readers.failAt = p -> false;
                List<TokenEvent> ok = run(s, "healthy");
                assertEquals(FinishReason.LENGTH, ok.getLast().finish());
                assertEquals(6, ok.size());
                assertNull(ok.getLast().errorMessage());
            }
        }
    }

    private static List<TokenEvent> run(BatchScheduler s, String id) {
        var r = new GenerationRequest(id, java.util.Arrays.copyOf(tokens, 8), SamplingParams.GREEDY, 6, null, null, true);
        return s.submit(r).events().collect().asList().await().atMost(Duration.ofSeconds(60));
    }

    @Test
    void aChangedModelFileIsRefused(@TempDir Path tmp) throws IOException {
        Path copy = tmp.resolve("model.gguf");
        Files.copy(gguf, copy);
        long slot;
        try (DecoderModel m = Models.load(copy, pool, plain("100%", false, FileExpertReader.factory(false)))) {
            slot = m.expertStore().slotBytes();
        }
        // one slot: every expert of every step is read again, so every step sees the file
        try (DecoderModel m = Models.load(copy, pool, plain(String.valueOf(slot), false, FileExpertReader.factory(false)))) {
            Logits.compute(m, tokens, false, null);
            Files.setLastModifiedTime(copy, FileTime.fromMillis(Files.getLastModifiedTime(copy).toMillis() + 60_000));
            var touched = assertThrows(ExpertReadException.class, () -> Logits.compute(m, tokens, false, null));
            assertTrue(touched.getMessage().contains("changed since it was opened"), touched.getMessage());
        }
        try (DecoderModel m = Models.load(copy, pool, plain(String.valueOf(slot), false, FileExpertReader.factory(false)))) {
            Logits.compute(m, tokens, false, null);
            Files.write(copy, new byte[] {1, 2, 3}, StandardOpenOption.APPEND);
            var grown = assertThrows(ExpertReadException.class, () -> Logits.compute(m, tokens, false, null));
            assertTrue(grown.getMessage().contains("changed since it was opened") && grown.getMessage().contains("size"), grown.getMessage());
        }
    }
}
