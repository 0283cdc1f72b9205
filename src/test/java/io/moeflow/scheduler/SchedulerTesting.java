package io.moeflow.scheduler;

import static org.junit.jupiter.api.Assertions.*;

import io.moeflow.engine.Detokenizer;
import io.moeflow.engine.SamplingParams;
import io.moeflow.model.Model;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.function.BooleanSupplier;

/** Helpers shared by the scheduler tests: collecting a request's events and comparing outcomes. */
final class SchedulerTesting {
    static final Duration TIMEOUT = Duration.ofSeconds(60);

    private SchedulerTesting() {}

    /** Text of token t of the 64-token test vocabulary: letters, digits, "é", "ab", space, newline; 63 ends generation. */
    static String tokenText(int t) {
        if (t < 26) return String.valueOf((char) ('a' + t));
        if (t < 52) return String.valueOf((char) ('A' + t - 26));
        if (t < 62) return String.valueOf((char) ('0' + t - 52));
        return t == 62 ? "é" : ""; // 63: end of generation, renders as nothing
    }

    static final Detokenizer TEXT = Detokenizer.perToken(SchedulerTesting::tokenText, t -> t == 63);

    /** What a request produced. */
    record Outcome(List<Integer> tokens, String text, FinishReason finish, TokenEvent.Usage usage, List<TokenEvent> events) {
        static Outcome of(List<TokenEvent> events) {
            List<Integer> tokens = new ArrayList<>();
            StringBuilder text = new StringBuilder();
            for (int i = 0; i < events.size(); i++) {
                TokenEvent e = events.get(i);
                assertEquals(i, e.index(), "event indexes count from 0 without gaps");
                assertEquals(i == events.size() - 1, e.last(), "only the last event has a finish reason");
                if (e.token() >= 0) tokens.add(e.token());
                text.append(e.text());
            }
            TokenEvent last = events.getLast();
            assertNotNull(last.usage(), "the last event carries usage");
            assertEquals(tokens.size(), last.usage().completionTokens());
            return new Outcome(tokens, text.toString(), last.finish(), last.usage(), events);
        }

        /** Same tokens, text and finish. */
        void assertSameAs(Outcome other, String what) {
            assertEquals(other.tokens, tokens, what + ": tokens");
            assertEquals(other.text, text, what + ": text");
            assertEquals(other.finish, finish, what + ": finish");
        }
    }

    static Outcome collect(GenerationEngine.Handle h) {
        return Outcome.of(h.events().collect().asList().await().atMost(TIMEOUT));
    }

    static int[] prompt(int length, int salt, int vocab) {
        int[] p = new int[length];
        for (int i = 0; i < length; i++) p[i] = (i * 13 + salt * 29 + 5) % (vocab - 1); // never the EOG token
        return p;
    }

    /** Greedy, generating through end-of-generation tokens (so lengths are predictable). */
    static GenerationRequest request(String id, int[] prompt, int maxTokens) {
        return new GenerationRequest(id, prompt, SamplingParams.GREEDY, maxTokens, null, null, true);
    }

    /** Runs each request alone on a fresh scheduler: the reference for batched runs. */
    static List<Outcome> alone(Model model, SchedulerConfig config, List<GenerationRequest> requests) {
        List<Outcome> out = new ArrayList<>();
        for (GenerationRequest r : requests) {
            try (BatchScheduler s = new BatchScheduler(model, TEXT, config)) {
                out.add(collect(s.submit(r)));
                assertAllKvFree(s);
            }
        }
        return out;
    }

    static List<Outcome> together(BatchScheduler s, List<GenerationRequest> requests) {
        List<GenerationEngine.Handle> handles = s.submitAll(requests, h -> {}); // all start in the same step
        List<Outcome> out = handles.stream().map(SchedulerTesting::collect).toList();
        assertAllKvFree(s);
        return out;
    }

    static void assertAllKvFree(BatchScheduler s) {
        assertEquals(s.totalKvBlocks(), s.freeKvBlocks(), "every KV block is back in the pool");
        assertEquals(0, s.active());
    }

    /** Waits (without a timed assertion: the limit only stops a hang) until the condition holds. */
    static void await(BooleanSupplier condition, String what) {
        long end = System.nanoTime() + TIMEOUT.toNanos();
        while (!condition.getAsBoolean()) {
            if (System.nanoTime() > end) fail("gave up waiting for: " + what);
            Thread.onSpinWait();
            try {
                Thread.sleep(1);
            } catch (InterruptedException e) {
                throw new RuntimeException(e);
            }
        }
    }
}
