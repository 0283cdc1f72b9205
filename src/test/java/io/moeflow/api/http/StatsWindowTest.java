package io.moeflow.api.http;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;

import org.junit.jupiter.api.Test;

class StatsWindowTest {
    private static final long MS = 1_000_000L;
    private static final long S = 1000 * MS;

    private static StatsWindow.Sample at(long nanos, long steps, long fed, long generated) {
        return new StatsWindow.Sample(nanos, steps, fed, generated);
    }

    @Test
    void noIntervalMeansNoFigures() {
        StatsWindow w = new StatsWindow(8, 100 * MS);
        assertNull(w.figures(5 * S).tokensPerSecond());
        w.add(at(0, 0, 0, 0));
        StatsWindow.Figures f = w.figures(5 * S);
        assertNull(f.tokensPerSecond());
        assertNull(f.meanBatch());
        assertNull(f.lastBatch());
    }

    @Test
    void ratesComeFromTheSampleAtTheWindowStart() {
        StatsWindow w = new StatsWindow(64, 100 * MS);
        // one sample a second: 10 steps of 4 tokens each generating 4 tokens per second, until t=6 s
        for (int t = 0; t <= 6; t++) w.add(at(t * S, 10L * t, 40L * t, 40L * t));
        // then one second of bigger batches: 5 steps of 8 tokens
        w.add(at(7 * S, 65, 280, 280));
        StatsWindow.Figures f = w.figures(5 * S);
        // window starts at the newest sample at or before 7 - 5 = 2 s
        assertEquals(5.0, f.seconds(), 1e-9);
        assertEquals((280 - 80) / 5.0, f.tokensPerSecond(), 1e-9);
        assertEquals((280.0 - 80) / (65 - 20), f.meanBatch(), 1e-9);
        assertEquals(8.0, f.lastBatch(), 1e-9);
    }

    @Test
    void whileTheSamplesSpanLessThanTheWindowTheOldestStartsIt() {
        StatsWindow w = new StatsWindow(64, 100 * MS);
        w.add(at(0, 0, 0, 0));
        w.add(at(2 * S, 4, 12, 10));
        StatsWindow.Figures f = w.figures(5 * S);
        assertEquals(2.0, f.seconds(), 1e-9);
        assertEquals(5.0, f.tokensPerSecond(), 1e-9);
        assertEquals(3.0, f.meanBatch(), 1e-9);
    }

    @Test
    void lastBatchIsTheNewestIntervalThatRanAStepAndNullWhenIdle() {
        StatsWindow w = new StatsWindow(64, 100 * MS);
        w.add(at(0, 0, 0, 0));
        w.add(at(S, 2, 6, 6)); // 3 tokens per step
        w.add(at(2 * S, 2, 6, 6)); // idle
        assertEquals(3.0, w.figures(5 * S).lastBatch(), 1e-9);
        assertEquals(3.0, w.figures(5 * S).tokensPerSecond(), 1e-9);
        for (int t = 3; t <= 9; t++) w.add(at(t * S, 2, 6, 6));
        StatsWindow.Figures idle = w.figures(5 * S);
        assertEquals(0.0, idle.tokensPerSecond(), 1e-9);
        assertNull(idle.meanBatch());
        assertNull(idle.lastBatch());
    }

    @Test
    void samplesCloserThanTheGapReplaceTheNewestSoTheWindowStaysCovered() {
        StatsWindow w = new StatsWindow(4, 100 * MS);
        w.add(at(0, 0, 0, 0));
        w.add(at(S, 10, 10, 10));
        // a burst of calls 1 ms apart would otherwise fill the ring of 4 and lose t=0
        for (int i = 1; i <= 50; i++) w.add(at(S + i * MS, 10 + i, 10 + i, 10 + i));
        StatsWindow.Figures f = w.figures(5 * S);
        assertEquals(1.05, f.seconds(), 1e-9);
        assertEquals(60 / 1.05, f.tokensPerSecond(), 1e-9);
    }

    @Test
    void theRingDropsTheOldestSamples() {
        StatsWindow w = new StatsWindow(4, 100 * MS);
        for (int t = 0; t < 10; t++) w.add(at(t * S, t, t, 3L * t));
        StatsWindow.Figures f = w.figures(100 * S);
        assertEquals(3.0, f.seconds(), 1e-9); // samples 6..9 remain
        assertEquals(3.0, f.tokensPerSecond(), 1e-9);
    }
}
