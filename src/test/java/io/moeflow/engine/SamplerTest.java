package io.moeflow.engine;

import static org.junit.jupiter.api.Assertions.*;

import java.util.Arrays;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

class SamplerTest {
    private static final float[] LOGITS = {1.0f, 2.0f, 0.5f, 3.0f, -1.0f};

    private static SamplingParams params(float temperature, int topK, float topP, float minP, long seed) {
        return new SamplingParams(temperature, topK, topP, minP, seed);
    }

    /** Softmax of LOGITS / temperature restricted to {@code keep}, in double: the expected distribution. */
    private static double[] expected(float temperature, int... keep) {
        double[] p = new double[LOGITS.length];
        double sum = 0;
        for (int k : keep) sum += Math.exp(LOGITS[k] / temperature);
        for (int k : keep) p[k] = Math.exp(LOGITS[k] / temperature) / sum;
        return p;
    }

    private static int[] draw(SamplingParams p, int draws) {
        Sampler sampler = new Sampler(LOGITS.length);
        SplittableRandom random = Sampler.newRandom(p);
        int[] counts = new int[LOGITS.length];
        for (int i = 0; i < draws; i++) counts[sampler.sample(LOGITS, 0, p, random)]++;
        return counts;
    }

    /** Pearson's chi-square of the counts against the expected probabilities (categories with p = 0 must be empty). */
    private static double chiSquare(int[] counts, double[] p) {
        int n = Arrays.stream(counts).sum();
        double chi = 0;
        for (int i = 0; i < counts.length; i++) {
            if (p[i] == 0) {
                assertEquals(0, counts[i], "token " + i + " should never be drawn");
                continue;
            }
            double e = n * p[i];
            chi += (counts[i] - e) * (counts[i] - e) / e;
        }
        return chi;
    }

    @Test
    void greedyIsArgmaxWithTiesToTheLowerId() {
        Sampler sampler = new Sampler(6);
        float[] row = {0f, 9f, 3f, 9f, -2f, 1f, /* next row */ 7f, 7f, 7f, 7f, 7f, 8f};
        assertEquals(1, sampler.sample(row, 0, SamplingParams.GREEDY, null));
        assertEquals(5, sampler.sample(row, 6, SamplingParams.GREEDY, null));
        float[] ties = {4f, 4f, 4f, 4f, 4f, 4f};
        assertEquals(0, sampler.sample(ties, 0, SamplingParams.GREEDY, null));
        float[] nan = {Float.NaN, 2f, Float.NaN, 5f, 5f, 1f};
        assertEquals(3, Sampler.argmax(nan, 0, 6));
    }

    @Test
    void topKOfOneIsGreedyAtAnyTemperature() {
        SplittableRandom data = new SplittableRandom(7);
        Sampler sampler = new Sampler(300);
        float[] row = new float[300];
        for (int trial = 0; trial < 50; trial++) {
            for (int i = 0; i < row.length; i++) row[i] = (float) data.nextGaussian();
            SamplingParams p = params(1.5f, 1, 1f, 0f, trial);
            assertEquals(Sampler.argmax(row, 0, row.length), sampler.sample(row, 0, p, Sampler.newRandom(p)));
        }
    }

    @Test
    void theSameSeedGivesTheSameTokensAndAnotherSeedOthers() {
        SamplingParams a = params(1f, 0, 1f, 0f, 1234);
        SamplingParams b = params(1f, 0, 1f, 0f, 1235);
        Sampler sampler = new Sampler(LOGITS.length);
        SplittableRandom ra1 = Sampler.newRandom(a), ra2 = Sampler.newRandom(a), rb = Sampler.newRandom(b);
        int[] first = new int[200], second = new int[200], other = new int[200];
        for (int i = 0; i < 200; i++) {
            first[i] = sampler.sample(LOGITS, 0, a, ra1);
            other[i] = sampler.sample(LOGITS, 0, b, rb); // interleaved use of the shared sampler must not matter
            second[i] = sampler.sample(LOGITS, 0, a, ra2);
        }
        assertArrayEquals(first, second);
        assertFalse(Arrays.equals(first, other));
    }

    @Test
    void drawsFollowTheSoftmaxAtTheTemperature() {
        // 4 degrees of freedom: chi-square above 30 has probability ~5e-6 under the right distribution
        int[] t1 = draw(params(1f, 0, 1f, 0f, 42), 20_000);
        assertTrue(chiSquare(t1, expected(1f, 0, 1, 2, 3, 4)) < 30, Arrays.toString(t1));
        int[] t05 = draw(params(0.5f, 0, 1f, 0f, 43), 20_000);
        assertTrue(chiSquare(t05, expected(0.5f, 0, 1, 2, 3, 4)) < 30, Arrays.toString(t05));
        // the wrong temperature is rejected by the same test
        assertTrue(chiSquare(t05, expected(1f, 0, 1, 2, 3, 4)) > 100);
    }

    @Test
    void topKKeepsTheKLargest() {
        int[] counts = draw(params(1f, 2, 1f, 0f, 5), 10_000);
        assertTrue(chiSquare(counts, expected(1f, 3, 1)) < 20, Arrays.toString(counts));
    }

    @Test
    void topPKeepsTheSmallestPrefixReachingP() {
        // probabilities: 3: 0.624, 1: 0.229, 0: 0.084, 2: 0.051, 4: 0.011
        int[] p80 = draw(params(1f, 0, 0.8f, 0f, 6), 10_000);
        assertTrue(chiSquare(p80, expected(1f, 3, 1)) < 20, Arrays.toString(p80));
        int[] p90 = draw(params(1f, 0, 0.9f, 0f, 7), 10_000);
        assertTrue(chiSquare(p90, expected(1f, 3, 1, 0)) < 25, Arrays.toString(p90));
        // top-p is measured before temperature: a hot temperature changes the odds, not the set
        int[] hot = draw(params(3f, 0, 0.8f, 0f, 8), 10_000);
        assertTrue(chiSquare(hot, expected(3f, 3, 1)) < 20, Arrays.toString(hot));
    }

    @Test
    void minPDropsTokensBelowItsShareOfTheTop() {
        int[] m10 = draw(params(1f, 0, 1f, 0.1f, 9), 10_000); // threshold 0.062: keeps 3, 1, 0
        assertTrue(chiSquare(m10, expected(1f, 3, 1, 0)) < 25, Arrays.toString(m10));
        int[] m30 = draw(params(1f, 0, 1f, 0.3f, 10), 10_000); // threshold 0.187: keeps 3, 1
        assertTrue(chiSquare(m30, expected(1f, 3, 1)) < 20, Arrays.toString(m30));
        int[] both = draw(params(1f, 0, 0.9f, 0.3f, 11), 10_000); // the shorter of the two prefixes
        assertTrue(chiSquare(both, expected(1f, 3, 1)) < 20, Arrays.toString(both));
    }

    @Test
    void topPOverALongTailWidensItsWindowUntilTheMassIsReached() {
        // id 999 has logit 20, ids 0..998 logit 0: the kept tail is the lowest ids (ties by id) up to the mass
        int vocab = 1000;
        float[] row = new float[vocab];
        row[999] = 20f;
        float topP = 0.9999999f;
        double z = Math.exp(20) + 999;
        int tail = (int) Math.ceil(topP * z - Math.exp(20)); // smallest j with (e^20 + j) / z >= topP
        assertTrue(tail > 900 && tail < 999, "test setup: tail " + tail);
        // a high temperature makes the tail drawable once top-p has chosen it
        SamplingParams p = params(100f, 0, topP, 0f, 12);
        Sampler sampler = new Sampler(vocab);
        SplittableRandom random = Sampler.newRandom(p);
        int maxTail = -1;
        for (int i = 0; i < 2000; i++) {
            int t = sampler.sample(row, 0, p, random);
            if (t != 999) maxTail = Math.max(maxTail, t);
        }
        assertTrue(maxTail < tail, "drew tail token " + maxTail + ", only ids < " + tail + " are within top-p");
        assertTrue(maxTail >= tail - 50, "the tail up to " + tail + " should be drawable, max drawn " + maxTail);
    }

    @Test
    void maskedLogitsAreNeverDrawn() {
        float[] row = {Float.NEGATIVE_INFINITY, 1f, Float.NaN, 1f};
        SamplingParams p = params(1f, 0, 1f, 0f, 13);
        Sampler sampler = new Sampler(4);
        SplittableRandom random = Sampler.newRandom(p);
        int[] counts = new int[4];
        for (int i = 0; i < 2000; i++) counts[sampler.sample(row, 0, p, random)]++;
        assertEquals(0, counts[0]);
        assertEquals(0, counts[2]);
        assertTrue(counts[1] > 800 && counts[3] > 800, Arrays.toString(counts));
    }
}
