package io.moeflow.api;

import static org.junit.jupiter.api.Assertions.assertEquals;

import org.junit.jupiter.api.Test;

/** The tokens/s gauge's window, driven by explicit clock readings. */
class RecentTokensTest {
    private static final long S = 1_000_000_000L;

    @Test
    void averagesTheWholeSecondsBeforeTheCurrentOne() {
        var recent = new ServiceMetrics.RecentTokens(5);
        long t0 = 1000 * S;
        for (int s = 0; s < 5; s++) {
            recent.add(t0 + s * S, 10 * (s + 1)); // 10, 20, 30, 40, 50 tokens in seconds 0..4
            recent.add(t0 + s * S + S / 2, 1);
        }
        recent.add(t0 + 5 * S, 1000); // the current second: not complete, not counted
        assertEquals((150 + 5) / 5.0, recent.perSecond(t0 + 5 * S + S / 3), 1e-9);
        // a second later, second 0 has left the window and second 5 is in
        assertEquals((140 + 4 + 1000) / 5.0, recent.perSecond(t0 + 6 * S), 1e-9);
    }

    @Test
    void slotsReusedAfterTheWindowForgetTheirOldSecond() {
        var recent = new ServiceMetrics.RecentTokens(5);
        long t0 = 7 * S;
        recent.add(t0, 600);
        // six seconds later the same slot holds a new second: the old 600 must not leak in
        recent.add(t0 + 6 * S, 6);
        assertEquals(6 / 5.0, recent.perSecond(t0 + 7 * S), 1e-9);
        // idle for longer than the window: nothing is recent
        assertEquals(0, recent.perSecond(t0 + 20 * S));
    }

    @Test
    void negativeClockReadingsWork() {
        var recent = new ServiceMetrics.RecentTokens(5);
        recent.add(-3 * S + 1, 5); // System.nanoTime may be negative
        assertEquals(1.0, recent.perSecond(-2 * S + 1), 1e-9);
    }
}
