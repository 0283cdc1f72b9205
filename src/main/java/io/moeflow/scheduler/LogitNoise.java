package io.moeflow.scheduler;

import java.util.SplittableRandom;

/**
 * TEST HOOK, off unless the system property {@value #PROPERTY} is set (to the amplitude, e.g. {@code 2.0}): adds
 * uniform noise in [-amplitude, amplitude] to every logit after each forward step, from a generator seeded
 * differently in every process. It stands for numerics that differ between two runs (another machine, thread count
 * or vector width), so that a test can show a resumed generation stays one coherent text whatever the logits of
 * the process that resumes it (RestartIT). Never set it in production: the outputs are deliberately wrong.
 */
final class LogitNoise {
    static final String PROPERTY = "moeflow.testing.logit-noise";

    private final float amplitude;
    private final SplittableRandom random = new SplittableRandom(System.nanoTime() ^ ProcessHandle.current().pid());

    private LogitNoise(float amplitude) {
        this.amplitude = amplitude;
    }

    /** Null when the property is unset or not a positive number. */
    static LogitNoise fromSystemProperty() {
        String value = System.getProperty(PROPERTY);
        if (value == null || value.isBlank()) return null;
        float amplitude = Float.parseFloat(value.trim());
        return amplitude > 0 ? new LogitNoise(amplitude) : null;
    }

    float amplitude() {
        return amplitude;
    }

    /** Perturbs {@code logits[0 .. n)}; on the step-loop thread only. */
    void perturb(float[] logits, int n) {
        for (int i = 0; i < n; i++) logits[i] += (float) ((random.nextDouble() * 2 - 1) * amplitude);
    }
}
