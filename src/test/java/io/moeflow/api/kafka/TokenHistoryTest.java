package io.moeflow.api.kafka;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;

class TokenHistoryTest {
    @Test
    void publishedCountsTheContiguousIndexesAndTheLatestLastEventNamesItsRecord() {
        TokenHistory history = new TokenHistory(10);
        assertNull(history.find("a"));
        history.observe("a", 2, 100, 0, false, "p-0@7");
        history.observe("a", 2, 105, 1, false, "p-0@7");
        history.observe("a", 2, 109, 3, false, "p-0@7"); // 2 is missing
        TokenHistory.Trace t = history.find("a");
        assertEquals(2, t.published());
        assertEquals(3, t.highestIndex());
        assertEquals(100, t.firstOffset());
        assertEquals(109, t.lastOffset());
        assertFalse(t.finished());
        history.observe("a", 2, 104, 2, false, "p-0@7"); // read back out of order (a catch-up): same result as in order
        history.observe("a", 2, 111, 4, true, "p-0@7");
        history.observe("a", 2, 111, 4, true, "p-0@7"); // the same event seen twice
        t = history.find("a");
        assertEquals(5, t.published());
        assertTrue(t.finished());
        assertEquals("p-0@7", t.finalPromptRecord());
        // a rerun's replay: the latest last event answers the rerun's record, an older one read later does not change it
        history.observe("a", 2, 130, 4, true, "p-3@9");
        history.observe("a", 2, 111, 4, true, "p-0@7");
        assertEquals("p-3@9", history.find("a").finalPromptRecord());
        assertEquals(130, history.find("a").lastOffset());
    }

    @Test
    void boundedToTheMostRecentlyWrittenIds() {
        TokenHistory history = new TokenHistory(3);
        for (int i = 0; i < 5; i++) history.observe("r" + i, 0, i, 0, false, null);
        assertEquals(3, history.size());
        assertNull(history.find("r0"));
        assertNull(history.find("r1"));
        assertEquals(4, history.find("r4").firstOffset());
    }
}
