package io.moeflow.api.http;

/**
 * A ring of samples of the scheduler's running totals; rates and means over the last few seconds are differences
 * between the newest sample and an older one. Consecutive kept samples are at least {@code minGapNanos} apart (a
 * sample closer to the one before the newest replaces the newest), so frequent callers cannot push the window's
 * start out of the ring. Thread-safe.
 */
final class StatsWindow {
    /** Running totals at one instant: forward steps, tokens fed to them (prompt and decode), tokens sampled. */
    record Sample(long nanos, long steps, long fedTokens, long generatedTokens) {}

    /**
     * Figures over [{@code from}, newest sample]; a field is null when the window has no interval or no step ran.
     *
     * @param seconds          the span actually covered (at least the requested window once enough samples exist)
     * @param tokensPerSecond  tokens sampled per second
     * @param meanBatch        tokens per forward step, over the window
     * @param lastBatch        tokens per forward step, over the newest sampling interval in which a step ran
     */
    record Figures(double seconds, Double tokensPerSecond, Double meanBatch, Double lastBatch) {}

    private final Sample[] ring;
    private final long minGapNanos;
    private int newest = -1;
    private int size;

    StatsWindow(int capacity, long minGapNanos) {
        if (capacity < 2) throw new IllegalArgumentException("capacity must be >= 2, got " + capacity);
        this.ring = new Sample[capacity];
        this.minGapNanos = minGapNanos;
    }

    synchronized void add(Sample s) {
        if (size >= 2 && s.nanos() - at(1).nanos() < minGapNanos) {
            ring[newest] = s;
            return;
        }
        newest = (newest + 1) % ring.length;
        ring[newest] = s;
        if (size < ring.length) size++;
    }

    /** Figures over the last {@code windowNanos} (or all samples while fewer cover it), ending at the newest sample. */
    synchronized Figures figures(long windowNanos) {
        if (size < 2) return new Figures(0, null, null, null);
        Sample end = at(0);
        // the newest sample at or before the window's start, else the oldest one
        int from = size - 1;
        for (int back = 1; back < size; back++) {
            if (end.nanos() - at(back).nanos() >= windowNanos) {
                from = back;
                break;
            }
        }
        Sample start = at(from);
        double seconds = (end.nanos() - start.nanos()) / 1e9;
        Double tokensPerSecond = seconds > 0 ? (end.generatedTokens() - start.generatedTokens()) / seconds : null;
        Double lastBatch = null;
        for (int back = 0; back < from && lastBatch == null; back++) {
            lastBatch = perStep(at(back + 1), at(back));
        }
        return new Figures(seconds, tokensPerSecond, perStep(start, end), lastBatch);
    }

    private static Double perStep(Sample from, Sample to) {
        long steps = to.steps() - from.steps();
        return steps > 0 ? (double) (to.fedTokens() - from.fedTokens()) / steps : null;
    }

    /** The sample {@code back} places before the newest. */
    private Sample at(int back) {
        return ring[Math.floorMod(newest - back, ring.length)];
    }
}
