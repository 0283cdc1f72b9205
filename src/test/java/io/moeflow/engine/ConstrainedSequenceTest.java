package io.moeflow.engine;

import static io.moeflow.engine.grammar.Grammar.alt;
import static io.moeflow.engine.grammar.Grammar.literal;
import static io.moeflow.engine.grammar.Grammar.plus;
import static io.moeflow.engine.grammar.Grammar.seq;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;

import io.moeflow.engine.grammar.GrammarConstraint;
import io.moeflow.engine.grammar.TokenTrie;
import io.moeflow.scheduler.FinishReason;
import io.moeflow.scheduler.GenerationRequest;
import java.nio.charset.StandardCharsets;
import java.util.BitSet;
import java.util.List;
import org.junit.jupiter.api.Test;

/** A sequence under a token constraint: masked sampling (greedy and drawn), the end of the grammar, resumes, dead ends. */
class ConstrainedSequenceTest {
    /** Token t is the letter 'a' + t; token 9 ends generation. */
    static final Detokenizer LETTERS = SequenceTest.LETTERS;
    static final int VOCAB = 12, EOG = 9;

    static TokenTrie letters() {
        byte[][] bytes = new byte[VOCAB][];
        for (int t = 0; t < VOCAB; t++) bytes[t] = t == EOG ? new byte[0] : String.valueOf((char) ('a' + t)).getBytes(StandardCharsets.UTF_8);
        BitSet eog = new BitSet();
        eog.set(EOG);
        return new TokenTrie(bytes, eog);
    }

    private static Sequence sequence(TokenConstraint constraint, SamplingParams sampling, int[] resumed, boolean ignoreEos) {
        GenerationRequest r = new GenerationRequest("r", new int[] {0}, sampling, 50, List.of(), null, ignoreEos, resumed)
                .withConstraint(constraint);
        return new Sequence(r, LETTERS, 100);
    }

    /** Samples from logits that favour token {@code favourite}, feeds and accepts; returns the token. */
    private static int step(Sequence s, Sampler sampler, int favourite) {
        s.advance(s.pending());
        float[] logits = new float[VOCAB];
        logits[favourite] = 10f;
        int t = s.sample(sampler, logits, 0);
        s.accept(t);
        return t;
    }

    @Test
    void greedyAndDrawnSamplesStayInTheGrammarAndItsEndStops() {
        // "ab" then one or more of c/d then "e"; "e" ends it (nothing can follow)
        TokenConstraint c = GrammarConstraint.of(seq(literal("ab"), plus(alt(literal("c"), literal("d"))), literal("e")), letters());
        Sampler sampler = new Sampler(VOCAB);
        for (SamplingParams p : List.of(SamplingParams.GREEDY, new SamplingParams(1f, 0, 1f, 0f, 3))) {
            Sequence s = sequence(c, p, null, false);
            assertEquals(0, step(s, sampler, 7), "the favourite h is masked: only a remains");
            assertEquals(1, step(s, sampler, 0));
            int cd = step(s, sampler, 3);
            assertEquals(3, cd, "d favoured among c, d");
            assertNull(s.finish());
            assertEquals(4, step(s, sampler, 4));
            assertEquals(FinishReason.STOP, s.finish(), "finished grammar: STOP without an end token");
            assertEquals(4, s.generated(), "a b d e");
        }
    }

    @Test
    void anEndTokenIsAllowedOnlyWhereTheGrammarIsCompleteAndStopsEvenWithIgnoreEos() {
        TokenConstraint c = GrammarConstraint.of(plus(literal("a")), letters());
        Sampler sampler = new Sampler(VOCAB);
        Sequence s = sequence(c, SamplingParams.GREEDY, null, true);
        assertEquals(0, step(s, sampler, EOG), "not complete yet: the end token is masked");
        assertEquals(EOG, step(s, sampler, EOG));
        assertEquals(FinishReason.STOP, s.finish());
    }

    @Test
    void resumedTokensAdvanceTheConstraint() {
        TokenConstraint c = GrammarConstraint.of(seq(literal("ab"), plus(literal("c")), literal("d")), letters());
        Sequence s = sequence(c, SamplingParams.GREEDY, new int[] {0, 1, 2}, false);
        s.advance(s.pending());
        float[] logits = new float[VOCAB];
        logits[0] = 5f; // a is favoured but the grammar is past it
        int t = s.sample(new Sampler(VOCAB), logits, 0);
        assertEquals(2, t, "c and d allowed; c ties d at 0 and wins by lower id");
        assertThrows(IllegalArgumentException.class, () -> sequence(c, SamplingParams.GREEDY, new int[] {1}, false),
                "published tokens outside the grammar are refused");
    }

    @Test
    void aDeadEndIsAnErrorNotText() {
        // the vocabulary has no "z"
        TokenConstraint c = GrammarConstraint.of(literal("z"), letters());
        Sequence s = sequence(c, SamplingParams.GREEDY, null, false);
        s.advance(s.pending());
        float[] logits = new float[VOCAB];
        assertThrows(TokenConstraint.DeadEndException.class, () -> s.sample(new Sampler(VOCAB), logits, 0));
        float[] expected = new float[VOCAB];
        java.util.Arrays.fill(expected, Float.NEGATIVE_INFINITY);
        assertArrayEquals(expected, logits, "every token masked");
    }
}
