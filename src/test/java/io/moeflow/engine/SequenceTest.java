package io.moeflow.engine;

import static org.junit.jupiter.api.Assertions.*;

import io.moeflow.scheduler.FinishReason;
import io.moeflow.scheduler.GenerationRequest;
import java.util.List;
import org.junit.jupiter.api.Test;

class SequenceTest {
    /** Token t is the letter 'a' + t; token 9 ends generation. */
    static final Detokenizer LETTERS = Detokenizer.perToken(t -> String.valueOf((char) ('a' + t)), t -> t == 9);

    private static Sequence sequence(int promptLength, int maxTokens, int context, List<String> stops, int[] stopTokens, boolean ignoreEos) {
        int[] prompt = new int[promptLength];
        return new Sequence(new GenerationRequest("r", prompt, null, maxTokens, stops, stopTokens, ignoreEos), LETTERS, context);
    }

    /** Feeds what is pending (as the step loop would) and accepts the token. */
    private static void next(Sequence s, int token) {
        s.advance(s.pending());
        s.accept(token);
    }

    @Test
    void maxTokensEndsWithLength() {
        Sequence s = sequence(3, 2, 100, List.of(), null, false);
        assertEquals(3, s.pending());
        next(s, 1);
        assertNull(s.finish());
        assertEquals("b", s.delta());
        assertTrue(s.decoding());
        next(s, 2);
        assertEquals(FinishReason.LENGTH, s.finish());
        assertEquals(2, s.generated());
    }

    @Test
    void theContextEndsWithLengthWhenTheNextTokenCouldNotBeFed() {
        // context 8, prompt 6: tokens at positions 6 and 7 can be fed, the one after that cannot
        Sequence s = sequence(6, 0, 8, List.of(), null, false);
        next(s, 1);
        next(s, 1);
        assertNull(s.finish());
        next(s, 1);
        assertEquals(FinishReason.LENGTH, s.finish());
        assertEquals(9, s.length());
        // a prompt filling the context gives exactly one token
        Sequence full = sequence(8, 0, 8, List.of(), null, false);
        next(full, 2);
        assertEquals(FinishReason.LENGTH, full.finish());
        assertThrows(IllegalArgumentException.class, () -> sequence(9, 0, 8, List.of(), null, false));
    }

    @Test
    void stopTokensEndWithStopAndAddNoText() {
        Sequence eog = sequence(1, 10, 100, List.of(), null, false);
        next(eog, 3);
        next(eog, 9);
        assertEquals(FinishReason.STOP, eog.finish());
        assertEquals("", eog.delta());
        Sequence ignoring = sequence(1, 10, 100, List.of(), new int[] {4}, true);
        next(ignoring, 9);
        assertNull(ignoring.finish(), "ignoreEos generates through end-of-generation tokens");
        next(ignoring, 4);
        assertEquals(FinishReason.STOP, ignoring.finish());
    }

    @Test
    void aStopStringEndsWithStopAndHeldTextIsFlushedAtLength() {
        Sequence s = sequence(1, 10, 100, List.of("cd"), null, false);
        next(s, 0);
        assertEquals("a", s.delta());
        next(s, 2);
        assertEquals("", s.delta()); // "c" may start "cd"
        next(s, 3);
        assertEquals(FinishReason.STOP, s.finish());
        assertEquals("", s.delta());
        Sequence limited = sequence(1, 2, 100, List.of("cd"), null, false);
        next(limited, 0);
        next(limited, 2);
        assertEquals(FinishReason.LENGTH, limited.finish());
        assertEquals("c", limited.delta(), "held-back text is released when the generation ends otherwise");
    }

    @Test
    void preemptionMakesEverythingPendingAgain() {
        Sequence s = sequence(4, 10, 100, List.of(), null, false);
        next(s, 1);
        next(s, 2);
        assertEquals(1, s.pending());
        s.dropKv();
        assertEquals(6, s.pending());
        assertFalse(s.decoding());
        assertThrows(IllegalStateException.class, () -> s.accept(3), "sampling needs every token fed");
    }
}
