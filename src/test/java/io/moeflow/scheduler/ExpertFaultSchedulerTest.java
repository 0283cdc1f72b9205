package io.moeflow.scheduler;

import static io.moeflow.scheduler.SchedulerTesting.*;
import static org.junit.jupiter.api.Assertions.*;

import io.moeflow.engine.SamplingParams;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;

/**
 * An expert read fault that names the batch rows routed to the failed experts ends only the sequences owning
 * those rows; the step runs again for the others, which produce exactly what they produce alone (the history
 * model turns any reuse of the failed attempt's KV writes, a skipped or doubled token, or an extra sampler draw
 * into different tokens).
 */
class ExpertFaultSchedulerTest {
    private static final int VOCAB = 64, CONTEXT = 256;

    private final HistoryModel model = new HistoryModel(VOCAB, CONTEXT);

    private SchedulerConfig config() {
        return config(16);
    }

    private SchedulerConfig config(int maxBatchTokens) {
        return new SchedulerConfig(model.bytesFor(64), maxBatchTokens, 8, 16);
    }

    /** Seeded sampling (an extra draw would change what follows), prompts of different lengths (chunked prefill). */
    private static List<GenerationRequest> requests() {
        int[] lengths = {3, 9, 20, 1, 6};
        List<GenerationRequest> out = new ArrayList<>();
        for (int i = 0; i < lengths.length; i++)
            out.add(new GenerationRequest("q" + i, prompt(lengths[i], 40 + i, VOCAB), new SamplingParams(0.9f, 20, 0.95f, 0.02f, 7 + i),
                    12, null, null, true));
        return out;
    }

    /** The rows of {@code step} belonging to the sequence of its row {@code row}. */
    private static int[] rowsOfSequenceAt(HistoryModel.Step step, int row) {
        int seq = step.seqIds()[row];
        return java.util.stream.IntStream.range(0, step.seqIds().length).filter(i -> step.seqIds()[i] == seq).toArray();
    }

    @Test
    void aFaultMidDecodeFailsOnlyTheSequenceThatNeededTheExpert() {
        List<GenerationRequest> requests = requests();
        List<Outcome> alone = alone(model, config(), requests);
        int before = model.steps().size();
        AtomicInteger calls = new AtomicInteger();
        Set<Integer> failedCalls = ConcurrentHashMap.newKeySet();
        // the 6th forward call (decode is under way): the sequence of its third row needed the broken expert
        model.failRows(st -> {
            int call = calls.incrementAndGet();
            if (call != 6) return null;
            failedCalls.add(call);
            return rowsOfSequenceAt(st, 2);
        });
        List<Outcome> outcomes;
        SchedulerStats stats;
        try (BatchScheduler s = new BatchScheduler(model, TEXT, config())) {
            outcomes = together(s, requests);
            stats = s.stats();
        }
        List<HistoryModel.Step> steps = model.steps().subList(before, model.steps().size());
        HistoryModel.Step failedStep = steps.get(5), rerun = steps.get(6);
        int failedSeq = failedStep.seqIds()[2];
        assertEquals(0, rerun.count(failedSeq), "the re-run leaves the failed sequence out");
        assertEquals(failedStep.distinctSeqs() - 1, rerun.distinctSeqs(), "and keeps every other one");

        int errors = 0;
        for (int i = 0; i < requests.size(); i++) {
            Outcome o = outcomes.get(i);
            if (o.finish() == FinishReason.ERROR) {
                errors++;
                TokenEvent last = o.events().getLast();
                assertEquals("engine_error", last.errorCode());
                assertTrue(last.errorMessage().contains("expert 5 of layer 1") && last.errorMessage().contains("injected I/O error"),
                        last.errorMessage());
                // what it produced before the fault is what it produces alone
                assertEquals(alone.get(i).tokens().subList(0, o.tokens().size()), o.tokens(), requests.get(i).id());
            } else {
                o.assertSameAs(alone.get(i), requests.get(i).id());
            }
        }
        assertEquals(1, errors, "exactly the sequence that needed the expert failed");

        // the failed attempt counts no tokens: only the steps that ran through do
        long fed = 0;
        for (int i = 0; i < steps.size(); i++) if (!failedCalls.contains(i + 1)) fed += steps.get(i).seqIds().length;
        assertEquals(fed, stats.prefillTokens() + stats.decodeTokens());
        assertEquals(outcomes.stream().mapToLong(o -> o.tokens().size()).sum(), stats.generatedTokens());
        assertEquals(steps.size() - 1, stats.steps(), "the failed attempt and its re-run are one step");
    }

    @Test
    void reRunsAreBoundedAndTheSurvivorsContinueInTheNextStep() {
        List<GenerationRequest> requests = requests();
        List<Outcome> alone = alone(model, config(64), requests);
        int before = model.steps().size();
        AtomicInteger calls = new AtomicInteger();
        // all five prompts fit the first step; every attempt of the first step loses the sequence of its first row
        model.failRows(st -> calls.incrementAndGet() <= BatchScheduler.MAX_FORWARD_ATTEMPTS ? rowsOfSequenceAt(st, 0) : null);
        List<Outcome> outcomes;
        try (BatchScheduler s = new BatchScheduler(model, TEXT, config(64))) {
            outcomes = together(s, requests); // also asserts every KV block is back
        }
        List<HistoryModel.Step> steps = model.steps().subList(before, model.steps().size());
        assertEquals(requests.size(), steps.getFirst().distinctSeqs());
        for (int a = 1; a < BatchScheduler.MAX_FORWARD_ATTEMPTS; a++)
            assertEquals(steps.get(a - 1).distinctSeqs() - 1, steps.get(a).distinctSeqs(), "attempt " + (a + 1) + " runs without the failed one");
        long failed = outcomes.stream().filter(o -> o.finish() == FinishReason.ERROR).count();
        assertEquals(BatchScheduler.MAX_FORWARD_ATTEMPTS, failed, "one sequence per attempt, then the step gives up");
        for (int i = 0; i < requests.size(); i++)
            if (outcomes.get(i).finish() != FinishReason.ERROR) outcomes.get(i).assertSameAs(alone.get(i), requests.get(i).id());
    }

    @Test
    void aFaultNamingNoRowOfTheStepFailsTheWholeStep() {
        model.failRows(st -> new int[] {st.seqIds().length + 3});
        try (BatchScheduler s = new BatchScheduler(model, TEXT, config())) {
            List<Outcome> outcomes = together(s, requests().subList(0, 3));
            for (Outcome o : outcomes) {
                assertEquals(FinishReason.ERROR, o.finish());
                assertTrue(o.events().getLast().errorMessage().contains("expert 5 of layer 1"), o.events().getLast().errorMessage());
            }
            model.failRows(st -> null);
            assertEquals(FinishReason.LENGTH, collect(s.submit(request("after", prompt(4, 3, VOCAB), 4))).finish());
        }
    }
}
