package io.moeflow.scheduler;

import static io.moeflow.scheduler.SchedulerTesting.*;
import static org.junit.jupiter.api.Assertions.*;

import io.moeflow.engine.SamplingParams;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.Test;

class BatchSchedulerTest {
    private static final int VOCAB = 64, CONTEXT = 256;

    private final HistoryModel model = new HistoryModel(VOCAB, CONTEXT);

    private SchedulerConfig config(int blocks, int maxBatchTokens, int maxSequences, int maxQueued) {
        return new SchedulerConfig(model.bytesFor(blocks), maxBatchTokens, maxSequences, maxQueued);
    }

    /** Different prompt lengths (some longer than a step's budget) and different stop conditions. */
    private List<GenerationRequest> mixedRequests(SamplingParams sampling) {
        int[] lengths = {1, 5, 17, 40, 3, 70};
        int[] maxTokens = {12, 30, 7, 20, 0, 25};
        List<GenerationRequest> out = new ArrayList<>();
        for (int i = 0; i < lengths.length; i++) {
            SamplingParams p = sampling.greedy() ? sampling
                    : new SamplingParams(sampling.temperature(), sampling.topK(), sampling.topP(), sampling.minP(), 100 + i);
            List<String> stops = i == 3 ? List.of("Q") : null;
            int[] stopTokens = i == 4 ? new int[] {7, 11} : null;
            out.add(new GenerationRequest("r" + i, prompt(lengths[i], i, VOCAB), p, maxTokens[i], stops, stopTokens));
        }
        return out;
    }

    private void assertBatchedEqualsAlone(SamplingParams sampling) {
        SchedulerConfig cfg = config(64, 16, 8, 16);
        List<GenerationRequest> requests = mixedRequests(sampling);
        List<Outcome> reference = alone(model, cfg, requests);
        int stepsAlone = model.steps().size();
        try (BatchScheduler s = new BatchScheduler(model, TEXT, cfg)) {
            List<Outcome> batched = together(s, requests);
            for (int i = 0; i < requests.size(); i++) batched.get(i).assertSameAs(reference.get(i), requests.get(i).id());
        }
        List<HistoryModel.Step> batchedSteps = model.steps().subList(stepsAlone, model.steps().size());
        assertTrue(batchedSteps.stream().anyMatch(st -> st.distinctSeqs() >= 4), "the requests really ran together");
        assertTrue(batchedSteps.stream().allMatch(st -> st.seqIds().length <= 16), "no step exceeds the token budget");
        // the requests ended for different reasons, so the comparison covered each of them
        assertTrue(reference.stream().map(Outcome::finish).distinct().count() >= 2, "finish reasons: "
                + reference.stream().map(Outcome::finish).toList());
    }

    @Test
    void greedyBatchedGivesExactlyTheTokensOfEachRequestAlone() {
        assertBatchedEqualsAlone(SamplingParams.GREEDY);
    }

    @Test
    void seededSamplingBatchedGivesExactlyTheTokensOfEachRequestAlone() {
        assertBatchedEqualsAlone(new SamplingParams(0.9f, 20, 0.95f, 0.02f, 0));
    }

    /**
     * A request resumed after the first k tokens of an uninterrupted run (as after a redelivery) emits events from
     * index k on, and with the same logits they are exactly the rest of that run: its generator skipped the
     * published draws, its text stream and stop strings replayed them, max_tokens counted them.
     */
    @Test
    void aResumedRequestContinuesExactlyAfterItsPublishedTokens() {
        SchedulerConfig cfg = config(64, 16, 8, 16);
        for (SamplingParams sampling : List.of(SamplingParams.GREEDY, new SamplingParams(0.9f, 20, 0.95f, 0.02f, 0))) {
            List<GenerationRequest> requests = mixedRequests(sampling);
            List<Outcome> reference = alone(model, cfg, requests);
            List<GenerationRequest> resumed = new ArrayList<>();
            List<Integer> cuts = new ArrayList<>();
            for (int i = 0; i < requests.size(); i++) {
                List<Integer> tokens = reference.get(i).tokens();
                // a cut before the last token event: the published part never ends the generation
                int last = reference.get(i).events().getLast().token() >= 0 ? tokens.size() - 1 : tokens.size();
                int cut = Math.min(last, 1 + i * 3);
                cuts.add(cut);
                resumed.add(requests.get(i).resumedAfter(tokens.subList(0, cut).stream().mapToInt(Integer::intValue).toArray()));
            }
            try (BatchScheduler s = new BatchScheduler(model, TEXT, cfg)) {
                List<GenerationEngine.Handle> handles = s.submitAll(resumed, h -> {});
                for (int i = 0; i < requests.size(); i++) {
                    List<TokenEvent> events = handles.get(i).events().collect().asList().await().atMost(TIMEOUT);
                    List<TokenEvent> expected = reference.get(i).events();
                    int cut = cuts.get(i);
                    assertEquals(expected.subList(cut, expected.size()), events,
                            requests.get(i).id() + " resumed after " + cut + " tokens (" + sampling + ")");
                }
                assertAllKvFree(s);
            }
        }
    }

    @Test
    void publishedTokensThatAlreadyEndTheGenerationCannotBeResumed() {
        try (BatchScheduler s = new BatchScheduler(model, TEXT, config(64, 16, 8, 16))) {
            GenerationRequest twoTokens = new GenerationRequest("r", prompt(3, 1, VOCAB), SamplingParams.GREEDY, 2, null, null);
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                    () -> s.submit(twoTokens.resumedAfter(new int[] {1, 2})));
            assertTrue(e.getMessage().contains("already ends the generation"), e.getMessage());
            assertThrows(IllegalArgumentException.class, () -> s.submit(twoTokens.resumedAfter(new int[] {VOCAB})));
        }
    }

    @Test
    void aLongPromptIsPrefilledInChunksWhileOtherStreamsKeepDecoding() {
        try (BatchScheduler s = new BatchScheduler(model, TEXT, config(64, 8, 8, 8))) {
            AtomicReference<GenerationEngine.Handle> longOne = new AtomicReference<>();
            model.pause(); // no step before the subscriber is in place
            GenerationEngine.Handle shortOne = s.submit(request("short", prompt(3, 1, VOCAB), 40));
            List<TokenEvent> shortEvents = new CopyOnWriteArrayList<>();
            // the long prompt joins from inside the stream, after the short one has produced 2 tokens
            shortOne.events().subscribe().with(e -> {
                shortEvents.add(e);
                if (e.index() == 1) longOne.set(s.submit(request("long", prompt(60, 2, VOCAB), 3)));
            });
            model.resume();
            await(() -> longOne.get() != null, "the long request was submitted");
            Outcome longOutcome = collect(longOne.get());
            await(() -> !shortEvents.isEmpty() && shortEvents.getLast().last(), "the short request finished");
            assertEquals(3, longOutcome.tokens().size());
            assertAllKvFree(s);
        }
        List<HistoryModel.Step> steps = model.steps();
        int longSeq = -1, firstLongStep = -1, lastPrefillStep = -1;
        for (int i = 0; i < steps.size(); i++) {
            HistoryModel.Step st = steps.get(i);
            for (int j = 0; j < st.positions().length; j++) {
                if (st.positions()[j] == 0 && i > 0) { // the long prompt's first token
                    longSeq = st.seqIds()[j];
                    firstLongStep = i;
                }
                if (longSeq >= 0 && st.seqIds()[j] == longSeq && st.positions()[j] == 59) lastPrefillStep = i;
            }
        }
        assertTrue(lastPrefillStep - firstLongStep >= 7, "60 prompt tokens over an 8-token budget take 8+ steps");
        for (int i = firstLongStep; i <= lastPrefillStep; i++) {
            HistoryModel.Step st = steps.get(i);
            if (i < lastPrefillStep) assertEquals(8, st.seqIds().length, "step " + i + " uses the whole budget");
            assertEquals(1, st.seqIds().length - st.count(longSeq), "step " + i + " still decodes the short stream");
            for (int j = 0; j < st.positions().length; j++) {
                if (st.seqIds()[j] == longSeq) {
                    assertEquals(st.positions()[j] == 59, st.wantLogits()[j], "logits only for the prompt's last token");
                }
            }
        }
    }

    @Test
    void aRequestJoiningMidBatchAndOneCancelledMidBatchLeaveTheOthersUnchanged() {
        SchedulerConfig cfg = config(64, 32, 8, 8);
        GenerationRequest a = request("a", prompt(9, 3, VOCAB), 30);
        GenerationRequest b = request("b", prompt(4, 4, VOCAB), 30);
        GenerationRequest c = request("c", prompt(13, 5, VOCAB), 20);
        List<Outcome> reference = alone(model, cfg, List.of(a, b, c));
        try (BatchScheduler s = new BatchScheduler(model, TEXT, cfg)) {
            model.pause(); // no step before b's subscriber is in place
            GenerationEngine.Handle ha = s.submit(a);
            GenerationEngine.Handle hb = s.submit(b);
            AtomicReference<GenerationEngine.Handle> hc = new AtomicReference<>();
            List<TokenEvent> bEvents = new CopyOnWriteArrayList<>();
            hb.events().subscribe().with(e -> {
                bEvents.add(e);
                if (e.index() == 2) hc.set(s.submit(c)); // joins at the next step
                if (e.index() == 5) hb.cancel(); // takes effect at the next step boundary
            });
            model.resume();
            Outcome oa = collect(ha);
            await(() -> hc.get() != null, "c submitted");
            Outcome oc = collect(hc.get());
            await(() -> !bEvents.isEmpty() && bEvents.getLast().last(), "b ended");
            Outcome ob = Outcome.of(bEvents);
            oa.assertSameAs(reference.get(0), "a");
            oc.assertSameAs(reference.get(2), "c");
            assertEquals(FinishReason.CANCELLED, ob.finish());
            assertEquals(reference.get(1).tokens().subList(0, 6), ob.tokens(), "b stops right after the step it was cancelled in");
            assertEquals(-1, ob.events().getLast().token());
            assertAllKvFree(s);
        }
    }

    @Test
    void whenTheKvPoolIsFullRequestsWaitAndAreServedLater() {
        // 6 blocks = 96 positions; each request needs 3 blocks (20 prompt + 20 generated), 5 of them
        SchedulerConfig cfg = config(6, 64, 8, 8);
        List<GenerationRequest> requests = new ArrayList<>();
        for (int i = 0; i < 5; i++) requests.add(request("q" + i, prompt(20, 10 + i, VOCAB), 20));
        List<Outcome> reference = alone(model, cfg, requests);
        int before = model.steps().size();
        try (BatchScheduler s = new BatchScheduler(model, TEXT, cfg)) {
            List<Outcome> batched = together(s, requests);
            for (int i = 0; i < requests.size(); i++) batched.get(i).assertSameAs(reference.get(i), "q" + i);
        }
        List<HistoryModel.Step> steps = model.steps().subList(before, model.steps().size());
        long most = steps.stream().mapToLong(HistoryModel.Step::distinctSeqs).max().orElseThrow();
        assertTrue(most < 5, "the pool cannot hold all five at once, yet " + most + " ran together");
        assertTrue(most >= 2, "two fit together");
    }

    @Test
    void aSequenceThatCannotGetABlockPreemptsTheNewestWhichIsRecomputedLater() {
        // 4 blocks: both prompts fit, but two sequences growing to 50+ tokens do not
        SchedulerConfig cfg = config(4, 64, 8, 8);
        List<GenerationRequest> requests = List.of(request("old", prompt(10, 20, VOCAB), 40),
                request("new", prompt(10, 21, VOCAB), 40));
        List<Outcome> reference = alone(model, cfg, requests);
        try (BatchScheduler s = new BatchScheduler(model, TEXT, cfg)) {
            List<Outcome> batched = together(s, requests);
            for (int i = 0; i < 2; i++) batched.get(i).assertSameAs(reference.get(i), requests.get(i).id());
            assertTrue(s.stats().preemptions() >= 1, "the newer sequence was preempted");
        }
    }

    @Test
    void aSequenceAloneThatOutgrowsThePoolEndsWithLength() {
        // 2 blocks = 32 positions: a 10-token prompt can grow to 32 tokens, the 33rd needs a third block
        try (BatchScheduler s = new BatchScheduler(model, TEXT, config(2, 64, 8, 8))) {
            Outcome o = collect(s.submit(new GenerationRequest("big", prompt(10, 30, VOCAB), SamplingParams.GREEDY,
                    100, null, null, true)));
            assertEquals(FinishReason.LENGTH, o.finish());
            assertEquals(23, o.tokens().size());
            assertAllKvFree(s);
        }
    }

    @Test
    void theContextLengthEndsWithLength() {
        HistoryModel small = new HistoryModel(VOCAB, 32);
        try (BatchScheduler s = new BatchScheduler(small, TEXT, new SchedulerConfig(small.bytesFor(8), 64, 8, 8))) {
            Outcome o = collect(s.submit(new GenerationRequest("ctx", prompt(30, 40, VOCAB), SamplingParams.GREEDY,
                    0, null, null, true)));
            assertEquals(FinishReason.LENGTH, o.finish());
            assertEquals(3, o.tokens().size(), "positions 30 and 31 can be fed; the third token ends it");
            Outcome full = collect(s.submit(new GenerationRequest("full", prompt(32, 41, VOCAB), SamplingParams.GREEDY,
                    0, null, null, true)));
            assertEquals(1, full.tokens().size());
            assertEquals(FinishReason.LENGTH, full.finish());
            assertThrows(IllegalArgumentException.class, () -> s.submit(request("over", prompt(33, 42, VOCAB), 1)));
        }
    }

    @Test
    void maxTokensStopTokensAndStopStringsEndAsTheyShould() {
        SchedulerConfig cfg = config(64, 64, 8, 8);
        try (BatchScheduler s = new BatchScheduler(model, TEXT, cfg)) {
            int[] p = prompt(7, 50, VOCAB);
            Outcome free = collect(s.submit(new GenerationRequest("free", p, SamplingParams.GREEDY, 40, null, null, true)));
            assertEquals(FinishReason.LENGTH, free.finish());
            assertEquals(40, free.tokens().size());
            assertEquals(new TokenEvent.Usage(7, 40), free.usage());

            Outcome limited = collect(s.submit(request("limited", p, 5)));
            assertEquals(free.tokens().subList(0, 5), limited.tokens());
            assertEquals(FinishReason.LENGTH, limited.finish());

            int stopAt = 8, stopToken = free.tokens().get(stopAt), first = free.tokens().indexOf(stopToken);
            Outcome stopped = collect(s.submit(new GenerationRequest("stoptok", p, SamplingParams.GREEDY, 40, null,
                    new int[] {stopToken}, true)));
            assertEquals(FinishReason.STOP, stopped.finish());
            assertEquals(free.tokens().subList(0, first + 1), stopped.tokens(), "the stop token is the last event");

            // a stop string spanning token boundaries, from the unconstrained text
            String text = free.text();
            String stop = text.substring(10, 13);
            Outcome byString = collect(s.submit(new GenerationRequest("stopstr", p, SamplingParams.GREEDY, 40,
                    List.of(stop), null, true)));
            assertEquals(FinishReason.STOP, byString.finish());
            assertEquals(text.substring(0, text.indexOf(stop)), byString.text(), "text up to the stop string, without it");
            assertAllKvFree(s);
        }
    }

    @Test
    void endOfGenerationTokensStopUnlessIgnored() {
        // the test detokenizer's EOG is token 63; make the model emit it by finding a prompt that does
        try (BatchScheduler s = new BatchScheduler(model, TEXT, config(64, 64, 8, 8))) {
            for (int salt = 0; salt < 200; salt++) {
                int[] p = prompt(6, salt, VOCAB);
                Outcome free = collect(s.submit(new GenerationRequest("f" + salt, p, SamplingParams.GREEDY, 30, null, null, true)));
                int eog = free.tokens().indexOf(63);
                if (eog < 0) continue;
                Outcome stopped = collect(s.submit(new GenerationRequest("s" + salt, p, SamplingParams.GREEDY, 30, null, null)));
                assertEquals(FinishReason.STOP, stopped.finish());
                assertEquals(free.tokens().subList(0, eog + 1), stopped.tokens());
                return;
            }
            fail("no prompt made the test model produce its end-of-generation token");
        }
    }

    @Test
    void theStreamedTextIsTheTextOfTheGeneratedTokens() {
        try (BatchScheduler s = new BatchScheduler(model, TEXT, config(64, 64, 8, 8))) {
            for (int salt = 0; salt < 20; salt++) {
                Outcome o = collect(s.submit(new GenerationRequest("u" + salt, prompt(5, salt, VOCAB),
                        new SamplingParams(1.5f, 0, 1f, 0f, salt), 40, null, null, true)));
                StringBuilder expected = new StringBuilder();
                for (int t : o.tokens()) expected.append(tokenText(t));
                assertEquals(expected.toString(), o.text());
            }
        }
    }

    @Test
    void queueLimitCancellationOfWaitingRequestsAndCloseCancelInFlight() {
        model.pause();
        BatchScheduler s = new BatchScheduler(model, TEXT, config(64, 64, 1, 2));
        try {
            GenerationEngine.Handle running = s.submit(request("run", prompt(5, 60, VOCAB), 50));
            await(() -> s.stats().waiting() == 0, "the first request is admitted");
            GenerationEngine.Handle w1 = s.submit(request("w1", prompt(5, 61, VOCAB), 5));
            GenerationEngine.Handle w2 = s.submit(request("w2", prompt(5, 62, VOCAB), 5));
            assertTrue(s.full());
            assertThrows(GenerationEngine.QueueFullException.class, () -> s.submit(request("w3", prompt(5, 63, VOCAB), 5)));
            assertEquals(3, s.active());
            w1.cancel();
            model.allow(2);
            Outcome o1 = collect(w1);
            assertEquals(FinishReason.CANCELLED, o1.finish());
            assertEquals(0, o1.tokens().size());
            assertFalse(s.full());
            Thread closer = new Thread(s::close);
            closer.start();
            await(() -> closer.getState() == Thread.State.WAITING, "close() is waiting for the loop");
            model.resume();
            closer.join();
            Outcome or = collect(running);
            assertEquals(FinishReason.CANCELLED, or.finish());
            assertEquals(FinishReason.CANCELLED, collect(w2).finish());
            assertThrows(IllegalStateException.class, () -> s.submit(request("late", prompt(5, 64, VOCAB), 5)));
            assertAllKvFree(s);
        } catch (InterruptedException e) {
            throw new RuntimeException(e);
        } finally {
            model.resume();
            s.close();
        }
    }

    @Test
    void cancellingTheSubscriptionCancelsTheRequest() {
        try (BatchScheduler s = new BatchScheduler(model, TEXT, config(64, 64, 8, 8))) {
            GenerationEngine.Handle h = s.submit(new GenerationRequest("sub", prompt(5, 70, VOCAB), SamplingParams.GREEDY,
                    0, null, null, true));
            List<TokenEvent> firstThree = h.events().select().first(3).collect().asList().await().atMost(TIMEOUT);
            assertEquals(3, firstThree.size());
            await(() -> s.active() == 0, "the request ended after its subscriber left");
            assertAllKvFree(s);
        }
    }

    @Test
    void eventsAreBufferedUntilSubscribed() {
        try (BatchScheduler s = new BatchScheduler(model, TEXT, config(64, 64, 8, 8))) {
            GenerationEngine.Handle h = s.submit(request("late-subscriber", prompt(5, 80, VOCAB), 12));
            await(() -> s.active() == 0, "the request finished");
            Outcome o = collect(h);
            assertEquals(12, o.tokens().size());
            assertEquals(FinishReason.LENGTH, o.finish());
        }
    }

    @Test
    void aFailingForwardStepFailsItsRequestsAndTheLoopGoesOn() {
        try (BatchScheduler s = new BatchScheduler(model, TEXT, config(64, 64, 8, 8))) {
            model.failOn(t -> t == 13);
            int[] poisoned = prompt(5, 90, VOCAB);
            poisoned[2] = 13;
            Outcome failed = collect(s.submit(request("bad", poisoned, 5)));
            assertEquals(FinishReason.ERROR, failed.finish());
            TokenEvent last = failed.events().getLast();
            assertEquals(-1, last.token());
            assertEquals("engine_error", last.errorCode());
            assertTrue(last.errorMessage().contains("poison"), last.errorMessage());
            model.failOn(t -> false);
            Outcome ok = collect(s.submit(request("good", prompt(5, 91, VOCAB), 5)));
            assertEquals(5, ok.tokens().size());
            assertAllKvFree(s);
        }
    }

    @Test
    void submitAllStartsEveryRequestInTheSameStepOrRefusesThemAll() {
        try (BatchScheduler s = new BatchScheduler(model, TEXT, config(64, 64, 8, 3))) {
            List<GenerationRequest> three = List.of(request("x0", prompt(4, 1, VOCAB), 3), request("x1", prompt(6, 2, VOCAB), 3),
                    request("x2", prompt(2, 3, VOCAB), 3));
            List<List<TokenEvent>> events = new ArrayList<>();
            List<GenerationEngine.Handle> handles = s.submitAll(three, h -> {
                List<TokenEvent> mine = new CopyOnWriteArrayList<>();
                events.add(mine);
                h.events().subscribe().with(mine::add);
            });
            assertEquals(3, handles.size());
            await(() -> s.active() == 0, "all three finished");
            for (List<TokenEvent> e : events) assertEquals(3, e.size());
            assertEquals(3, model.steps().getFirst().distinctSeqs(), "the first step holds all three prompts");
            List<GenerationRequest> four = new ArrayList<>(three);
            four.add(request("x3", prompt(3, 4, VOCAB), 3));
            assertThrows(GenerationEngine.QueueFullException.class, () -> s.submitAll(four, h -> {}));
            assertEquals(0, s.active(), "a refused list queues nothing");
        }
    }

    @Test
    void badRequestsAreRefusedAtSubmit() {
        try (BatchScheduler s = new BatchScheduler(model, TEXT, config(2, 64, 8, 8))) {
            var outside = assertThrows(IllegalArgumentException.class, () -> s.submit(request("v", new int[] {1, VOCAB}, 1)));
            assertTrue(outside.getMessage().contains("vocabulary"), outside.getMessage());
            var tooBig = assertThrows(IllegalArgumentException.class, () -> s.submit(request("kv", prompt(40, 1, VOCAB), 1)));
            assertTrue(tooBig.getMessage().contains("KV blocks"), tooBig.getMessage());
            assertEquals(0, s.active());
        }
        assertThrows(IllegalArgumentException.class, () -> new BatchScheduler(model, TEXT, new SchedulerConfig(10, 64, 8, 8)));
    }

    @Test
    void statisticsAddUpTheSteps() {
        try (BatchScheduler s = new BatchScheduler(model, TEXT, config(64, 64, 8, 8))) {
            List<GenerationRequest> requests = List.of(request("s1", prompt(6, 1, VOCAB), 10),
                    new GenerationRequest("s2", prompt(9, 2, VOCAB), SamplingParams.GREEDY, 10, null, null, true));
            List<Outcome> out = together(s, requests);
            SchedulerStats st = s.stats();
            int generated = out.stream().mapToInt(o -> o.tokens().size()).sum();
            assertEquals(generated, st.generatedTokens());
            assertEquals(6 + 9, st.prefillTokens());
            // every generated token but the last of each request is fed back
            assertEquals(generated - 2, st.decodeTokens());
            assertEquals(model.steps().size(), st.steps());
            long distinct = 0;
            for (long d : st.distinctExpertsPerLayer()) distinct += d;
            assertEquals(model.reportedDistinctExperts(), distinct);
            assertTrue(st.decodeSteps() > 0 && st.meanDecodeExpertLoadsPerToken() > 0);
            assertEquals(2, st.completed());
            assertEquals(st.kvTotalBlocks(), st.kvFreeBlocks());
        }
    }
}
