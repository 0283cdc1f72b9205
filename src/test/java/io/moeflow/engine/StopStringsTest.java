package io.moeflow.engine;

import static org.junit.jupiter.api.Assertions.*;

import java.util.List;
import org.junit.jupiter.api.Test;

class StopStringsTest {
    @Test
    void withoutStopStringsTextPassesThrough() {
        StopStrings s = new StopStrings(List.of());
        assertEquals("abc", s.push("abc"));
        assertEquals("", s.flush());
    }

    @Test
    void aStopStringIsHeldBackAndNeverEmitted() {
        StopStrings s = new StopStrings(List.of("END"));
        assertEquals("abc", s.push("abcE"));
        assertEquals("", s.push("N"));
        assertFalse(s.stopped());
        assertEquals("", s.push("D and more"));
        assertTrue(s.stopped());
        assertEquals("", s.flush());
        assertThrows(IllegalStateException.class, () -> s.push("x"));
    }

    @Test
    void aFalseStartIsReleasedOnceItCannotMatch() {
        StopStrings s = new StopStrings(List.of("END"));
        assertEquals("x", s.push("xEN"));
        assertEquals("ENx", s.push("x"));
        assertEquals("E", s.push("EE")); // the second E may still start "END"
        assertEquals("E", s.flush());
    }

    @Test
    void theEarliestOfSeveralStopStringsWins() {
        StopStrings s = new StopStrings(List.of("world", "lo w"));
        assertEquals("hel", s.push("hello world"));
        assertTrue(s.stopped());
    }

    @Test
    void aStopStringSplitOverPushesCutsTheTextBeforeIt() {
        StopStrings s = new StopStrings(List.of("\n\n"));
        assertEquals("one", s.push("one\n") + s.push("\ntwo"));
        assertTrue(s.stopped());
    }

    @Test
    void emptyStopStringsAreRefused() {
        assertThrows(IllegalArgumentException.class, () -> new StopStrings(List.of("")));
    }
}
