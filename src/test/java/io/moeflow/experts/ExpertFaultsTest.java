package io.moeflow.experts;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.moeflow.engine.Detokenizer;
import io.moeflow.engine.SamplingParams;
import io.moeflow.gguf.GgufFile;
import io.moeflow.gguf.GgufTensor;
import io.moeflow.gguf.synth.SynthFileType;
import io.moeflow.gguf.synth.SynthShape;
import io.moeflow.gguf.synth.SyntheticModel;
import io.moeflow.kernels.WorkerPool;
import io.moeflow.model.DecoderModel;
import io.moeflow.model.KvCache;
import io.moeflow.model.Logits;
import io.moeflow.model.Models;
import io.moeflow.model.StepStats;
import io.moeflow.scheduler.BatchScheduler;
import io.moeflow.scheduler.FinishReason;
import io.moeflow.scheduler.GenerationEngine;
import io.moeflow.scheduler.GenerationRequest;
import io.moeflow.scheduler.SchedulerConfig;
import io.moeflow.scheduler.TokenEvent;
import java.io.IOException;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.TreeSet;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.LongPredicate;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * Disk faults in budgeted mode, end to end through the scheduler, on a small synthetic qwen3moe (written here,
 * so it runs without ../shared): reads of one expert fail (an I/O error or a short read, via the reader test
 * double); the concurrent requests routed to it end with an error naming layer and expert, the others produce
 * exactly the tokens they produce alone with a healthy reader, every KV block comes back, and a transient fault
 * heals for the next request.
 */
class ExpertFaultsTest {
    /** 2 MoE layers of 16 experts, top-2: short requests each touch some experts of a layer and miss others. */
    static final SynthShape SHAPE = new SynthShape("faults-qwen3moe", "qwen3moe", 2, 64, 4, 2, 16, 0, 16, 2, 32, 512, 128, 1e6f, 1e-6f);
    static final int REQUESTS = 6, MAX_TOKENS = 4;
    static final Detokenizer IDS = Detokenizer.perToken(t -> "|" + t + "|", t -> false);
    static final Duration TIMEOUT = Duration.ofSeconds(60);

    @TempDir static Path dir;
    static WorkerPool pool;
    static Path gguf;
    static List<GenerationRequest> requests;
    /** Each request alone on a budgeted model with a healthy reader. */
    static List<List<Integer>> healthy;
    /** The tokens each request feeds the model: its prompt and all generated tokens but the last. */
    static List<int[]> fed;
    /** The (layer, expert) pairs each request routes to: {@code layer * 1000 + expert}. */
    static List<Set<Integer>> routed;

    @BeforeAll
    static void setUp() throws IOException {
        pool = new WorkerPool(2);
        gguf = dir.resolve("faults.gguf");
        try (GgufFile vocab = GgufFile.open(Path.of("models/stories260K/stories260K.gguf"))) {
            new SyntheticModel(SHAPE, SynthFileType.F32, 11, null, SyntheticModel.tokenizerOf(vocab)).write(gguf, 1, null);
        }
        requests = new ArrayList<>();
        for (int i = 0; i < REQUESTS; i++) {
            int[] prompt = new int[2 + i % 3];
            for (int j = 0; j < prompt.length; j++) prompt[j] = 3 + (i * 37 + j * 101) % 500;
            requests.add(new GenerationRequest("f" + i, prompt, SamplingParams.GREEDY, MAX_TOKENS, null, null, true));
        }
        healthy = new ArrayList<>();
        try (DecoderModel m = budgeted(true, FileExpertReader.factory(false)); BatchScheduler s = scheduler(m)) {
            for (GenerationRequest r : requests) {
                List<TokenEvent> events = collect(s.submit(r));
                assertEquals(FinishReason.LENGTH, events.getLast().finish(), r.id());
                healthy.add(tokens(events));
            }
        }
        // routing of every token the model is fed (the prompt and all generated tokens but the last), resident
        routed = new ArrayList<>();
        fed = new ArrayList<>();
        try (DecoderModel m = Models.load(gguf, pool)) {
            for (int i = 0; i < REQUESTS; i++) {
                int[] prompt = requests.get(i).promptTokens();
                int[] tokens = new int[prompt.length + MAX_TOKENS - 1];
                System.arraycopy(prompt, 0, tokens, 0, prompt.length);
                for (int j = 0; j < MAX_TOKENS - 1; j++) tokens[prompt.length + j] = healthy.get(i).get(j);
                fed.add(tokens);
                Set<Integer> used = new HashSet<>();
                StepStats trace = new StepStats();
                trace.routing = (layer, token, experts, from, k) -> {
                    for (int x = 0; x < k; x++) used.add(layer * 1000 + experts[from + x]);
                };
                Logits.compute(m, tokens, false, trace);
                routed.add(used);
            }
        }
    }

    @AfterAll
    static void tearDown() {
        if (pool != null) pool.close();
    }

    static DecoderModel budgeted(boolean prefetch, ExpertReader.Factory readers) {
        // a quarter of the experts: evictions, so the broken expert is asked for (and fails) again and again
        return Models.load(gguf, pool, new ExpertStoreConfig(ExpertStoreConfig.Mode.BUDGETED, "25%", EvictionPolicy.LFU, prefetch, 2, readers));
    }

    static BatchScheduler scheduler(DecoderModel m) {
        long block = m.newKvCache(1).bytesPerToken() * KvCache.BLOCK;
        return new BatchScheduler(m, IDS, new SchedulerConfig(32 * block, 64, 8, 16));
    }

    static List<TokenEvent> collect(GenerationEngine.Handle h) {
        return h.events().collect().asList().await().atMost(TIMEOUT);
    }

    static List<Integer> tokens(List<TokenEvent> events) {
        return events.stream().filter(e -> e.token() >= 0).map(TokenEvent::token).toList();
    }

    /** The (layer, expert) that the most balanced split of the requests routes to: some need it, some never do. */
    static int brokenExpert() {
        int best = -1, bestBalance = 0;
        for (int key : routed.stream().flatMap(Set::stream).distinct().sorted().toList()) {
            long users = routed.stream().filter(u -> u.contains(key)).count();
            int balance = (int) Math.min(users, REQUESTS - users);
            if (balance > bestBalance) {
                best = key;
                bestBalance = balance;
            }
        }
        assertTrue(bestBalance >= 2, "the prompts split over some expert: " + routed);
        return best;
    }

    /** The first request routed to {@code key}. */
    static int firstUser(int key) {
        for (int i = 0; i < REQUESTS; i++) if (routed.get(i).contains(key)) return i;
        throw new AssertionError("no request routes to " + key);
    }

    /** File positions of expert {@code e}'s gate, up and down matrices in layer {@code l}. */
    static LongPredicate positionsOf(GgufFile f, int l, int e) {
        List<long[]> ranges = new ArrayList<>();
        for (String m : List.of("gate", "up", "down")) {
            GgufTensor t = f.tensor("blk." + l + ".ffn_" + m + "_exps.weight");
            long from = t.offset() + e * t.bytesPerExpert();
            ranges.add(new long[] {from, from + t.bytesPerExpert()});
        }
        return p -> ranges.stream().anyMatch(r -> p >= r[0] && p < r[1]);
    }

    @ParameterizedTest
    @ValueSource(strings = {"io-error", "short-read"})
    void onlyTheRequestsThatNeedABrokenExpertFail(String fault) {
        int key = brokenExpert(), layer = key / 1000, expert = key % 1000;
        TestReaders readers = new TestReaders(false);
        try (DecoderModel m = budgeted(true, readers); BatchScheduler s = scheduler(m)) {
            LongPredicate broken = positionsOf(m.file(), layer, expert);
            if (fault.equals("io-error")) readers.failAt = broken;
            else readers.shortAt = broken;
            List<GenerationEngine.Handle> handles = s.submitAll(requests, h -> {}); // concurrent: one batch
            int failed = 0;
            for (int i = 0; i < REQUESTS; i++) {
                List<TokenEvent> events = collect(handles.get(i));
                TokenEvent last = events.getLast();
                if (routed.get(i).contains(key)) {
                    failed++;
                    assertEquals(FinishReason.ERROR, last.finish(), requests.get(i).id() + " needed the broken expert");
                    String msg = last.errorMessage();
                    assertTrue(msg.contains("expert " + expert + " of layer " + layer + " from " + gguf)
                            && msg.contains(fault.equals("io-error") ? "injected I/O error" : "short read of blk." + layer + ".ffn_"), msg);
                    List<Integer> before = tokens(events);
                    assertEquals(healthy.get(i).subList(0, before.size()), before, "tokens before the fault");
                } else {
                    assertEquals(FinishReason.LENGTH, last.finish(), requests.get(i).id() + ": " + last.errorMessage());
                    assertNull(last.errorMessage());
                    assertEquals(healthy.get(i), tokens(events), requests.get(i).id() + " never needed the broken expert");
                }
            }
            assertTrue(failed >= 1 && failed < REQUESTS);
            assertEquals(s.totalKvBlocks(), s.freeKvBlocks(), "every KV block is back in the pool");
            assertEquals(0, s.active());
            assertTrue(readers.readsAt.keySet().stream().anyMatch(broken::test), "the broken expert was read");

            // the fault is repaired: the same requests now all complete as they do alone
            readers.failAt = p -> false;
            readers.shortAt = p -> false;
            List<GenerationEngine.Handle> again = s.submitAll(requests, h -> {});
            for (int i = 0; i < REQUESTS; i++) assertEquals(healthy.get(i), tokens(collect(again.get(i))), requests.get(i).id() + " after the repair");
        }
    }

    @Test
    void aFailedAcquisitionNamesEveryFailedExpertAndTheMoeBlockTheRowsRoutedToThem() {
        int key = brokenExpert(), layer = key / 1000, expert = key % 1000;
        int[] tokens = fed.get(firstUser(key));
        TestReaders readers = new TestReaders(false);
        try (DecoderModel m = budgeted(false, readers)) {
            int other = (expert + 1) % SHAPE.experts(), healthyOne = (expert + 2) % SHAPE.experts();
            LongPredicate broken = positionsOf(m.file(), layer, expert), alsoBroken = positionsOf(m.file(), layer, other);
            readers.failAt = p -> broken.test(p) || alsoBroken.test(p);
            ExpertWeights w = m.expertStore().layer(layer);
            int[] ids = {expert, healthyOne, other};
            var e = assertThrows(ExpertReadException.class, () -> StoreSteps.hold(w, ids, 0, 3));
            assertEquals(List.of(expert, other), Arrays.stream(e.experts()).boxed().toList());
            assertNull(e.rows(), "the store does not know the tokens");
            assertTrue(e.getMessage().contains("experts " + expert + ", " + other + " of layer " + layer), e.getMessage());
            assertEquals(1, m.expertStore().usedSlots(), "the failed experts are not kept; the healthy one is");

            // in a step: the rows are the tokens routed to either failed expert in that layer
            Set<Integer> expected = new TreeSet<>();
            StepStats trace = new StepStats();
            trace.routing = (l, token, experts, from, k) -> {
                for (int x = 0; x < k; x++) if (l == layer && (experts[from + x] == expert || experts[from + x] == other)) expected.add(token);
            };
            var inStep = assertThrows(ExpertReadException.class, () -> Logits.compute(m, tokens, false, trace));
            assertEquals(layer, inStep.layer());
            assertFalse(expected.isEmpty());
            assertEquals(List.copyOf(expected), Arrays.stream(inStep.rows()).boxed().toList());
            for (int row = 0; row < tokens.length; row++) assertEquals(expected.contains(row), inStep.affectsRow(row));

            // repaired: the same acquisition reads them again and holds the file's bytes
            readers.failAt = p -> false;
            StoreSteps.hold(w, ids, 0, 3);
            for (int x : ids) ExpertStoreTest.assertSameBytes(m.file().tensor("blk." + layer + ".ffn_gate_exps.weight").expert(x), w.gate(x));
            w.release(ids, 0, 3);
        }
    }

    @Test
    void aTransientFaultFailsOneRequestAndTheNextReadsTheExpertAgain() {
        int key = brokenExpert(), layer = key / 1000, expert = key % 1000;
        int user = firstUser(key);
        TestReaders readers = new TestReaders(false);
        // no prefetch: the one failing read must be the demand read of the request
        try (DecoderModel m = budgeted(false, readers); BatchScheduler s = scheduler(m)) {
            LongPredicate broken = positionsOf(m.file(), layer, expert);
            AtomicInteger faults = new AtomicInteger(1);
            readers.failAt = p -> broken.test(p) && faults.getAndUpdate(n -> Math.max(0, n - 1)) > 0;
            GenerationRequest r = requests.get(user);
            TokenEvent first = collect(s.submit(r)).getLast();
            assertEquals(FinishReason.ERROR, first.finish());
            assertNotNull(first.errorMessage());
            assertTrue(first.errorMessage().contains("expert " + expert + " of layer " + layer), first.errorMessage());
            assertEquals(0, faults.get(), "exactly one read failed");
            // the failed slot was not kept: the next request reads the expert again and succeeds
            List<TokenEvent> second = collect(s.submit(r));
            assertEquals(FinishReason.LENGTH, second.getLast().finish(), String.valueOf(second.getLast().errorMessage()));
            assertEquals(healthy.get(user), tokens(second));
            assertEquals(s.totalKvBlocks(), s.freeKvBlocks());
        }
    }
}
