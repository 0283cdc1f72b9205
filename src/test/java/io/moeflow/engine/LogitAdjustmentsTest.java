package io.moeflow.engine;

import static org.junit.jupiter.api.Assertions.*;

import io.moeflow.scheduler.GenerationRequest;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

/**
 * The logit bias, the penalties and the log-probabilities, each against values worked out by hand (or in plain
 * double arithmetic written out in the test), and their wiring through {@link Sequence}: which tokens count
 * (generated only for presence/frequency, the sliding last-n window with the prompt for repeat_penalty).
 */
class LogitAdjustmentsTest {
    private static SamplingParams greedy() {
        return new SamplingParams(0f, 0, 1f, 0f, 1L);
    }

    private static TokenCounts counts(int... ids) {
        TokenCounts c = new TokenCounts();
        for (int id : ids) c.add(id);
        return c;
    }

    @Test
    void biasThenRepeatThenFrequencyAndPresenceMatchTheHandComputedRow() {
        float[] row = {2.0f, -1.0f, 0.5f, 3.0f, -0.25f, 0.0f, 1.0f};
        SamplingParams p = greedy().withPenalties(0.25f, 0.5f, 2.0f, 64)
                .withLogitBias(LogitBias.of(Map.of(5, 1.5f, 6, -100f)));
        // recent window holds 0, 1, 5 (once each) and 3 twice; generated: 3 twice, 1 once, 5 once
        TokenCounts recent = counts(0, 1, 3, 3, 5);
        TokenCounts generated = counts(3, 1, 3, 5);
        float[] out = row.clone();
        Sampler sampler = new Sampler(row.length);
        sampler.adjustLogits(out, 0, p, generated, recent);
        // token 0: repeat only, 2.0 / 2 = 1.0
        // token 1: repeat of a negative logit multiplies: -1.0 * 2 = -2.0; generated once: - (0.5 + 0.25) = -2.75
        // token 2: untouched 0.5
        // token 3: 3.0 / 2 = 1.5; generated twice: 1.5 - (2 * 0.5 + 0.25) = 0.25
        // token 4: untouched -0.25
        // token 5: bias 0 + 1.5 = 1.5; repeat 1.5 / 2 = 0.75; generated once: 0.75 - 0.75 = 0.0
        // token 6: bias 1.0 - 100 = -99.0
        float[] expected = {1.0f, -2.75f, 0.5f, 0.25f, -0.25f, 0.0f, -99.0f};
        assertArrayEquals(expected, out);
        sampler.restoreLogits(out, 0);
        assertArrayEquals(row, out, "restore gives back the row bit for bit");
    }

    @Test
    void adjustingARowInsideALargerArrayTouchesOnlyThatRow() {
        float[] rows = new float[12];
        for (int i = 0; i < rows.length; i++) rows[i] = i * 0.5f;
        float[] before = rows.clone();
        Sampler sampler = new Sampler(4);
        sampler.adjustLogits(rows, 4, greedy().withLogitBias(LogitBias.of(Map.of(0, 10f, 3, -10f))), null, null);
        assertEquals(before[4] + 10f, rows[4]);
        assertEquals(before[7] - 10f, rows[7]);
        for (int i : new int[] {0, 1, 2, 3, 5, 6, 8, 9, 10, 11}) assertEquals(before[i], rows[i], "index " + i);
        sampler.restoreLogits(rows, 4);
        assertArrayEquals(before, rows);
    }

    @Test
    void aBiasOutsideTheVocabularyIsRefused() {
        Sampler sampler = new Sampler(4);
        float[] row = new float[4];
        assertThrows(IllegalArgumentException.class,
                () -> sampler.adjustLogits(row, 0, greedy().withLogitBias(LogitBias.of(Map.of(4, 1f))), null, null));
        assertThrows(IllegalArgumentException.class, () -> LogitBias.of(Map.of(1, 100.5f)));
        assertThrows(IllegalArgumentException.class, () -> LogitBias.of(Map.of(-1, 1f)));
        assertThrows(IllegalArgumentException.class, () -> greedy().withPenalties(2.5f, 0f, 1f, 64));
        assertThrows(IllegalArgumentException.class, () -> greedy().withPenalties(0f, -2.01f, 1f, 64));
        assertThrows(IllegalArgumentException.class, () -> greedy().withPenalties(0f, 0f, 0f, 64));
        assertThrows(IllegalArgumentException.class, () -> greedy().withLogprobs(21));
    }

    @Test
    void tokenCountsAgreeWithAHashMapUnderRandomAddsAndRemoves() {
        TokenCounts counts = new TokenCounts();
        Map<Integer, Integer> reference = new HashMap<>();
        SplittableRandom r = new SplittableRandom(11);
        for (int step = 0; step < 20_000; step++) {
            int id = r.nextInt(3000);
            Integer have = reference.get(id);
            if (have != null && have > 0 && r.nextBoolean()) {
                counts.remove(id);
                reference.put(id, have - 1);
            } else {
                counts.add(id);
                reference.merge(id, 1, Integer::sum);
            }
        }
        assertEquals(reference.size(), counts.distinct());
        for (int i = 0; i < counts.distinct(); i++) assertEquals(reference.get(counts.id(i)), counts.countAt(i));
        for (int id = 0; id < 3100; id++) assertEquals(reference.getOrDefault(id, 0), counts.count(id), "id " + id);
        assertThrows(IllegalStateException.class, () -> counts.remove(5000));
    }

    @Test
    void logprobsAreTheLogSoftmaxOfTheRawRow() {
        float[] row = {1.0f, 2.0f, 0.5f, 3.0f, -1.0f, 3.0f, Float.NEGATIVE_INFINITY};
        // plain softmax, no max subtraction (the values are small): an independent formula
        double z = 0;
        for (float v : row) z += Math.exp(v);
        TokenLogprobs lp = Sampler.logprobs(row, 0, row.length, 2, 3);
        assertEquals(2, lp.token());
        assertEquals(Math.log(Math.exp(0.5) / z), lp.logprob(), 1e-12);
        assertArrayEquals(new int[] {3, 5, 1}, lp.topTokens(), "largest first, the tie 3 = 5 to the lower id");
        assertEquals(Math.log(Math.exp(3.0) / z), lp.topLogprobs()[0], 1e-12);
        assertEquals(lp.topLogprobs()[0], lp.topLogprobs()[1]);
        assertEquals(Math.log(Math.exp(2.0) / z), lp.topLogprobs()[2], 1e-12);
        assertEquals(Double.NEGATIVE_INFINITY, Sampler.logprobs(row, 0, row.length, 6, 0).logprob());
        double total = 0;
        for (int t = 0; t < row.length; t++) total += Math.exp(Sampler.logprobs(row, 0, row.length, t, 0).logprob());
        assertEquals(1.0, total, 1e-12);
        TokenLogprobs all = Sampler.logprobs(row, 0, row.length, 0, 20);
        assertEquals(row.length, all.topTokens().length, "at most the vocabulary");
        assertEquals(6, all.topTokens()[6]);
    }

    @Test
    void logprobsOfLargeLogitsDoNotOverflow() {
        float[] row = {1000f, 999f, -1000f};
        double logZ = 1000 + Math.log(1 + Math.exp(-1) + Math.exp(-2000));
        TokenLogprobs lp = Sampler.logprobs(row, 0, row.length, 1, 1);
        assertEquals(999 - logZ, lp.logprob(), 1e-12);
        assertEquals(1000 - logZ, lp.topLogprobs()[0], 1e-12);
    }

    /** A sequence over a fixed row: its greedy pick with the penalties of {@code p}, after {@code prompt}. */
    private static int[] generate(float[] row, int[] prompt, SamplingParams p, int steps) {
        Sequence s = new Sequence(new GenerationRequest("t", prompt, p, steps, List.of(), null, true), Detokenizer.NONE, 10_000);
        Sampler sampler = new Sampler(row.length);
        int[] out = new int[steps];
        for (int i = 0; i < steps; i++) {
            s.advance(s.pending());
            float[] copy = row.clone();
            out[i] = s.sample(sampler, copy, 0);
            assertArrayEquals(row, copy, "the sequence gives the row back");
            s.accept(out[i]);
        }
        return out;
    }

    @Test
    void frequencyPenaltyCountsGeneratedTokensOnly() {
        float[] row = {0f, 3.0f, 2.9f, 2.0f};
        int[] prompt = {2, 2, 2, 2};
        // without penalties: always 1
        assertArrayEquals(new int[] {1, 1, 1}, generate(row, prompt, greedy(), 3));
        // frequency 0.15: the prompt's 2s do not count, so 1 first (3.0 > 2.9); then 3.0 - 0.15 = 2.85 < 2.9 -> 2;
        // then 1 at 2.85 vs 2 at 2.75 -> 1; then 1 at 2.7 vs 2.75 -> 2
        assertArrayEquals(new int[] {1, 2, 1, 2}, generate(row, prompt, greedy().withPenalties(0f, 0.15f, 1f, 64), 4));
        // presence 0.5 is paid once: 1, then 2 (2.9 > 2.5), then 3.0-0.5=2.5 vs 2.9-0.5=2.4 -> 1, then 1 again
        assertArrayEquals(new int[] {1, 2, 1, 1}, generate(row, prompt, greedy().withPenalties(0.5f, 0f, 1f, 64), 4));
    }

    @Test
    void repeatPenaltySeesThePromptWithinTheLastNTokens() {
        float[] row = {0f, 3.0f, 2.0f, 1.0f};
        // token 1 is in the prompt but 3 tokens back; with the window of 2 it is not penalized
        assertArrayEquals(new int[] {1}, generate(row, new int[] {1, 3, 3}, greedy().withPenalties(0f, 0f, 2f, 2), 1));
        // a window of 3 (or the whole sequence) reaches it: 3.0 / 2 = 1.5 < 2.0
        assertArrayEquals(new int[] {2}, generate(row, new int[] {1, 3, 3}, greedy().withPenalties(0f, 0f, 2f, 3), 1));
        assertArrayEquals(new int[] {2}, generate(row, new int[] {1, 3, 3}, greedy().withPenalties(0f, 0f, 2f, -1), 1));
        // window 1, prompt {0}: 1, then 1 is penalized (1.5) -> 2, then 2 is (1.0) and 1 left the window -> 1
        assertArrayEquals(new int[] {1, 2, 1, 2}, generate(row, new int[] {0}, greedy().withPenalties(0f, 0f, 2f, 1), 4));
        // repeat_last_n 0 is off
        assertArrayEquals(new int[] {1, 1}, generate(row, new int[] {1}, greedy().withPenalties(0f, 0f, 2f, 0), 2));
    }

    @Test
    void biasBansAndForcesUnderGreedyAndSampling() {
        float[] row = {0f, 3.0f, 2.9f, 2.0f};
        assertArrayEquals(new int[] {2, 2}, generate(row, new int[] {0}, greedy().withLogitBias(LogitBias.of(Map.of(1, -100f))), 2));
        assertArrayEquals(new int[] {0, 0}, generate(row, new int[] {0}, greedy().withLogitBias(LogitBias.of(Map.of(0, 100f))), 2));
        SamplingParams sampled = new SamplingParams(1f, 0, 1f, 0f, 5L).withLogitBias(LogitBias.of(Map.of(1, -100f)));
        for (int t : generate(row, new int[] {0}, sampled, 2000)) assertNotEquals(1, t);
    }

    @Test
    void theSameSeedGivesTheSameTokensWithPenaltiesAndAnotherSeedOthers() {
        float[] row = {0.1f, 0.3f, 0.2f, 0.0f, 0.25f};
        SamplingParams p = new SamplingParams(1f, 0, 1f, 0f, 42L).withPenalties(0.3f, 0.4f, 1.3f, 8);
        int[] a = generate(row, new int[] {1, 2}, p, 64);
        assertArrayEquals(a, generate(row, new int[] {1, 2}, p, 64));
        assertFalse(java.util.Arrays.equals(a, generate(row, new int[] {1, 2}, p.withSeed(43L), 64)));
    }

    /** A generation resumed after published tokens (a Kafka redelivery) rebuilds the counts and continues identically. */
    @Test
    void aResumedSequenceContinuesAsTheUninterruptedOne() {
        float[] row = {0.1f, 0.3f, 0.2f, 0.0f, 0.25f, 0.15f};
        int[] prompt = {1, 2, 4};
        SamplingParams p = new SamplingParams(1f, 0, 1f, 0f, 9L).withPenalties(0.5f, 0.7f, 1.6f, 5);
        int[] whole = generate(row, prompt, p, 30);
        int[] published = java.util.Arrays.copyOf(whole, 11);
        Sequence s = new Sequence(new GenerationRequest("t", prompt, p, 30, List.of(), null, true, published), Detokenizer.NONE, 10_000);
        Sampler sampler = new Sampler(row.length);
        for (int i = 11; i < 30; i++) {
            s.advance(s.pending());
            int t = s.sample(sampler, row.clone(), 0);
            assertEquals(whole[i], t, "token " + i);
            s.accept(t);
        }
    }

    @Test
    void aSequenceReportsLogprobsOfTheRawRowButNotOfAStopToken() {
        float[] row = {0f, 3.0f, 2.9f, 2.0f};
        SamplingParams p = greedy().withLogitBias(LogitBias.of(Map.of(1, -100f))).withLogprobs(2);
        Detokenizer stopAt3 = Detokenizer.perToken(t -> "x", t -> t == 3);
        Sequence s = new Sequence(new GenerationRequest("t", new int[] {0}, p, 5, List.of(), null, false), stopAt3, 100);
        Sampler sampler = new Sampler(row.length);
        s.advance(1);
        int t = s.sample(sampler, row, 0);
        s.accept(t);
        assertEquals(2, t);
        TokenLogprobs lp = s.logprobs();
        // the model's distribution: token 1 is still the most likely, though the bias kept it from being chosen
        assertArrayEquals(new int[] {1, 2}, lp.topTokens());
        assertEquals(Sampler.logprobs(row, 0, 4, 2, 2).logprob(), lp.logprob());
        s.advance(1);
        float[] stop = {0f, 0f, 0f, 5f};
        s.accept(s.sample(sampler, stop, 0));
        assertEquals(io.moeflow.scheduler.FinishReason.STOP, s.finish());
        assertNull(s.logprobs(), "the stop token is not part of the answer");
    }
}
