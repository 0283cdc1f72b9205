package io.moeflow.scheduler;

import static io.moeflow.scheduler.SchedulerTesting.*;
import static io.moeflow.testing.TokenArrays.concat;
import static org.junit.jupiter.api.Assertions.*;

import io.moeflow.engine.SamplingParams;
import io.moeflow.model.KvCache;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

/**
 * Prefix caching in the batch scheduler over {@link HistoryModel}, whose KV at a position is an exact hash of the
 * tokens up to it and whose logits come from it: a sequence given a block of another prefix, at another position or
 * with a gap produces other tokens (or the model refuses the position), so "the same tokens as without the cache"
 * proves the shared KV is the sequence's own. Each test compares against the same requests with prefix caching off.
 */
class PrefixCacheSchedulerTest {
    private static final int VOCAB = 64, CONTEXT = 512, B = KvCache.BLOCK;

    private final HistoryModel model = new HistoryModel(VOCAB, CONTEXT);

    private SchedulerConfig config(int blocks, int maxBatchTokens, int maxSequences) {
        return new SchedulerConfig(model.bytesFor(blocks), maxBatchTokens, maxSequences, 64);
    }


    private static GenerationRequest sampled(String id, int[] prompt, int maxTokens, long seed) {
        return new GenerationRequest(id, prompt, new SamplingParams(0.9f, 20, 0.95f, 0.02f, seed), maxTokens, null, null, true);
    }

    /** Each request alone on a fresh scheduler without prefix caching. */
    private List<Outcome> reference(SchedulerConfig cfg, List<GenerationRequest> requests) {
        return alone(model, cfg.withPrefixCache(false), requests);
    }

    private static void assertSameOutcomes(List<Outcome> expected, List<Outcome> actual, List<GenerationRequest> requests) {
        for (int i = 0; i < requests.size(); i++) actual.get(i).assertSameAs(expected.get(i), requests.get(i).id());
    }

    @Test
    void concurrentRequestsSharingASystemPromptFeedOnlyWhatIsNotCachedAndGetTheirTokensAlone() {
        int[] system = prompt(40, 1, VOCAB); // two full blocks and 8 tokens
        GenerationRequest warm = request("warm", concat(system, prompt(3, 2, VOCAB)), 5);
        List<GenerationRequest> requests = new ArrayList<>();
        for (int i = 0; i < 6; i++) {
            int[] p = concat(system, prompt(5 + i, 10 + i, VOCAB));
            requests.add(i % 2 == 0 ? request("g" + i, p, 20) : sampled("s" + i, p, 20, 7 * i));
        }
        // the same prompt twice in one step: both compute its blocks, one copy is cached, the other stays private
        requests.add(sampled("twin", requests.get(1).promptTokens(), 20, 99));
        SchedulerConfig cfg = config(64, 128, 8);
        List<GenerationRequest> all = new ArrayList<>(List.of(warm));
        all.addAll(requests);
        List<Outcome> expected = reference(cfg, all);
        try (BatchScheduler s = new BatchScheduler(model, TEXT, cfg)) {
            assertTrue(s.prefixCacheEnabled());
            collect(s.submit(warm)).assertSameAs(expected.get(0), "warm");
            SchedulerStats before = s.stats();
            int stepsBefore = model.steps().size();
            List<Outcome> batched = together(s, requests);
            assertSameOutcomes(expected.subList(1, expected.size()), batched, requests);
            SchedulerStats after = s.stats();
            long queried = requests.stream().mapToLong(r -> r.promptTokens().length).sum();
            assertEquals(queried, after.prefixQueriedTokens() - before.prefixQueriedTokens());
            assertEquals(requests.size() * 2L * B, after.prefixHitTokens() - before.prefixHitTokens(), "two blocks each");
            assertEquals(queried - requests.size() * 2L * B, after.prefillTokens() - before.prefillTokens(),
                    "only the tokens after the cached prefix are prefilled");
            List<HistoryModel.Step> steps = model.steps().subList(stepsBefore, model.steps().size());
            assertTrue(steps.getFirst().distinctSeqs() >= 4, "they ran together");
            for (HistoryModel.Step st : steps)
                for (int p : st.positions()) assertTrue(p >= 2 * B, "position " + p + " of the cached prefix was fed");
            assertTrue(after.kvCachedBlocks() > 2, "full blocks of the generations are cached too");
        }
    }

    @Test
    void requestsArrivingTogetherWithTheSamePrefixComputeItOnce() {
        int[] system = prompt(3 * B + 4, 16, VOCAB); // three full blocks
        List<GenerationRequest> requests = new ArrayList<>();
        for (int i = 0; i < 5; i++) requests.add(sampled("t" + i, concat(system, prompt(2 + i, 30 + i, VOCAB)), 10, i));
        requests.add(request("other", prompt(30, 40, VOCAB), 10)); // behind them in the queue, shares nothing
        SchedulerConfig cfg = config(64, 24, 8); // the first prompt takes two steps
        List<Outcome> expected = reference(cfg, requests);
        try (BatchScheduler s = new BatchScheduler(model, TEXT, cfg)) {
            assertSameOutcomes(expected, together(s, requests), requests);
            SchedulerStats st = s.stats();
            long queried = requests.stream().mapToLong(r -> r.promptTokens().length).sum();
            assertEquals(4 * 3L * B, st.prefixHitTokens(), "all but the first found the three blocks");
            assertEquals(queried - 4 * 3L * B, st.prefillTokens(), "the shared blocks were computed once");
        }
    }

    @Test
    void aFollowUpTurnReusesThePromptAndTheGeneratedTokensOfTheLastOne() {
        SchedulerConfig cfg = config(64, 64, 8);
        GenerationRequest first = request("turn1", prompt(21, 3, VOCAB), 30);
        try (BatchScheduler s = new BatchScheduler(model, TEXT, cfg)) {
            Outcome o1 = collect(s.submit(first));
            // the next turn's prompt: the whole first turn, then the user's new message
            int[] history = concat(first.promptTokens(), o1.tokens().stream().mapToInt(Integer::intValue).toArray());
            GenerationRequest second = request("turn2", concat(history, prompt(6, 4, VOCAB)), 10);
            SchedulerStats before = s.stats();
            Outcome o2 = collect(s.submit(second));
            o2.assertSameAs(reference(cfg, List.of(second)).getFirst(), "turn2");
            // written in turn 1: its prompt and all generated tokens but the last (never fed)
            int written = history.length - 1;
            assertEquals(written / B * B, s.stats().prefixHitTokens() - before.prefixHitTokens());
        }
    }

    @Test
    void aBlockIsSharedOnlyUnderItsWholePrefix() {
        // X Y ... then Y Y ... and Y X ...: a cache keyed by a block's own tokens (not chained through its parent)
        // would hand the later prompts blocks computed after another first block, and their tokens would differ
        int[] x = prompt(B, 5, VOCAB), y = prompt(B, 6, VOCAB);
        List<GenerationRequest> requests = List.of(request("xy", concat(x, y, prompt(4, 7, VOCAB)), 12),
                request("yy", concat(y, y, prompt(4, 7, VOCAB)), 12), request("yx", concat(y, x, prompt(4, 7, VOCAB)), 12),
                request("xy2", concat(x, y, prompt(6, 8, VOCAB)), 12));
        SchedulerConfig cfg = config(64, 64, 8);
        List<Outcome> expected = reference(cfg, requests);
        try (BatchScheduler s = new BatchScheduler(model, TEXT, cfg)) {
            long[] hits = new long[requests.size()];
            for (int i = 0; i < requests.size(); i++) {
                long before = s.stats().prefixHitTokens();
                collect(s.submit(requests.get(i))).assertSameAs(expected.get(i), requests.get(i).id());
                hits[i] = s.stats().prefixHitTokens() - before;
            }
            assertArrayEquals(new long[] {0, 0, B, 2 * B}, hits, "hits of xy, yy, yx (y from yy), xy2");
        }
    }

    @Test
    void aSmallPoolEvictsIdleCachedBlocksOldestFirstAndManyRequestsStillGetTheirTokens() {
        // 6 blocks: a and b (3 blocks each, 2 of them cached when done) fit; c needs 4 and evicts a's two
        SchedulerConfig cfg = config(6, 64, 4);
        GenerationRequest a = request("a", prompt(40, 1, VOCAB), 4), b = request("b", prompt(40, 2, VOCAB), 4);
        GenerationRequest c = request("c", prompt(60, 3, VOCAB), 4);
        List<GenerationRequest> order = List.of(a, b, c, b, a);
        List<Outcome> expected = reference(cfg, order);
        try (BatchScheduler s = new BatchScheduler(model, TEXT, cfg)) {
            long[] hits = new long[order.size()];
            for (int i = 0; i < order.size(); i++) {
                long before = s.stats().prefixHitTokens();
                collect(s.submit(order.get(i))).assertSameAs(expected.get(i), order.get(i).id() + " #" + i);
                hits[i] = s.stats().prefixHitTokens() - before;
                assertAllKvFree(s);
            }
            assertArrayEquals(new long[] {0, 0, 0, 2 * B, 0}, hits, "a's blocks were evicted for c, b's not (until a came back)");
        }
        // many requests sharing prefixes at once in a pool that cannot hold them: waiting, preemption, eviction
        int[] sys1 = prompt(2 * B, 8, VOCAB), sys2 = prompt(B + 3, 9, VOCAB);
        List<GenerationRequest> crowd = new ArrayList<>();
        for (int i = 0; i < 10; i++) {
            int[] p = concat(i % 3 == 0 ? sys2 : sys1, prompt(3 + i, 20 + i, VOCAB));
            crowd.add(i % 2 == 0 ? request("c" + i, p, 15 + i) : sampled("c" + i, p, 15 + i, i));
        }
        SchedulerConfig tight = config(10, 24, 8);
        List<Outcome> crowdExpected = reference(tight, crowd);
        try (BatchScheduler s = new BatchScheduler(model, TEXT, tight)) {
            collect(s.submit(request("warm", concat(sys1, prompt(2, 30, VOCAB)), 2)));
            assertSameOutcomes(crowdExpected, together(s, crowd), crowd);
            SchedulerStats st = s.stats();
            assertTrue(st.prefixHitTokens() > 0, "the crowd shared cached blocks");
            assertTrue(st.preemptions() > 0, "the pool was too small for the crowd");
        }
    }

    @Test
    void aPreemptedSequenceFindsCachedBlocksWhenReadmittedAndItsOutputDoesNotChange() {
        // 4 blocks: both prompts fit, two sequences growing to 50+ tokens do not; they share a first block
        int[] system = prompt(B, 11, VOCAB);
        List<GenerationRequest> requests = List.of(request("old", concat(system, prompt(6, 20, VOCAB)), 40),
                sampled("new", concat(system, prompt(6, 21, VOCAB)), 40, 3));
        SchedulerConfig cfg = config(4, 64, 8);
        List<Outcome> expected = reference(cfg, requests);
        try (BatchScheduler s = new BatchScheduler(model, TEXT, cfg)) {
            assertSameOutcomes(expected, together(s, requests), requests);
            SchedulerStats st = s.stats();
            assertTrue(st.preemptions() >= 1, "the newer sequence was preempted");
            assertTrue(st.prefixHitTokens() >= B, "readmitted, it found at least the shared block: " + st.prefixHitTokens());
            assertAllKvFree(s);
        }
    }

    @Test
    void aResumedRequestWithACachedPrefixContinuesExactlyAfterItsPublishedTokens() {
        SchedulerConfig cfg = config(64, 32, 8);
        int[] system = prompt(2 * B + 5, 12, VOCAB);
        GenerationRequest r = sampled("resume", concat(system, prompt(7, 13, VOCAB)), 30, 5);
        Outcome whole = reference(cfg, List.of(r)).getFirst();
        int cut = 19;
        int[] published = whole.tokens().subList(0, cut).stream().mapToInt(Integer::intValue).toArray();
        try (BatchScheduler s = new BatchScheduler(model, TEXT, cfg)) {
            collect(s.submit(request("warm", concat(system, prompt(1, 14, VOCAB)), 1)));
            long before = s.stats().prefixHitTokens();
            List<TokenEvent> events = s.submit(r.resumedAfter(published)).events().collect().asList().await().atMost(TIMEOUT);
            // the same events, but for the usage's cached count: the resumed request found the warm-up's blocks
            assertEquals(withoutCachedCount(whole.events().subList(cut, whole.events().size())), withoutCachedCount(events));
            assertEquals(2 * B, events.getLast().usage().cachedPromptTokens());
            assertEquals(2 * B, s.stats().prefixHitTokens() - before);
        }
    }

    @Test
    void aModelWithPerSequenceStateOptsOut() {
        model.withPerSequenceState();
        GenerationRequest r = request("again", prompt(50, 15, VOCAB), 5);
        try (BatchScheduler s = new BatchScheduler(model, TEXT, config(64, 64, 8))) {
            assertFalse(s.prefixCacheEnabled());
            Outcome first = collect(s.submit(r));
            collect(s.submit(r)).assertSameAs(first, "again");
            SchedulerStats st = s.stats();
            assertEquals(0, st.prefixHitTokens());
            assertEquals(0, st.prefixQueriedTokens());
            assertEquals(100, st.prefillTokens(), "both prompts prefilled whole");
            assertEquals(0, st.kvCachedBlocks());
        }
    }

    @Test
    void switchedOffNothingIsShared() {
        GenerationRequest r = request("again", prompt(50, 15, VOCAB), 5);
        try (BatchScheduler s = new BatchScheduler(model, TEXT, config(64, 64, 8).withPrefixCache(false))) {
            assertFalse(s.prefixCacheEnabled());
            collect(s.submit(r));
            collect(s.submit(r));
            assertEquals(100, s.stats().prefillTokens());
            assertEquals(0, s.stats().prefixHitTokens());
        }
    }

    private static List<TokenEvent> withoutCachedCount(List<TokenEvent> events) {
        return events.stream().map(e -> e.usage() == null ? e : new TokenEvent(e.requestId(), e.index(), e.token(), e.text(),
                e.finish(), new TokenEvent.Usage(e.usage().promptTokens(), e.usage().completionTokens()), e.errorCode(),
                e.errorMessage(), e.logprobs())).toList();
    }
}
