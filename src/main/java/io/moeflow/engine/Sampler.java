package io.moeflow.engine;

import java.util.SplittableRandom;

/**
 * Picks the next token from one row of logits. One instance serves every sequence of the step loop (its
 * buffers are sized to the vocabulary and reused, so a call allocates nothing); the randomness is per
 * sequence: each sequence owns a {@link SplittableRandom} seeded from its {@link SamplingParams#seed()}, so a
 * seed gives the same tokens whatever else runs in the batch.
 *
 * <p>Order, the same as llama.cpp's default chain:
 * <ol>
 *   <li>logit bias, then repeat penalty, then frequency and presence penalties ({@link #adjustLogits}, called by
 *       {@link Sequence#sample} before this; llama.cpp also puts its logit bias first, then its penalties sampler;
 *       vLLM applies bias, then repetition, frequency, presence);</li>
 *   <li>greedy ({@link SamplingParams#greedy()}: temperature 0 or top-k 1): the argmax, ties to the lower id;</li>
 *   <li>top-k: keep the k largest logits;</li>
 *   <li>top-p: keep the smallest set of the largest logits whose softmax probability (over what top-k kept,
 *       before temperature) reaches p;</li>
 *   <li>min-p: keep the tokens whose probability is at least min-p times the largest one's;</li>
 *   <li>temperature: divide the kept logits by it;</li>
 *   <li>softmax over the kept logits and one draw from the sequence's generator.</li>
 * </ol>
 * Candidates are ordered by logit, then by id, so the result never depends on sort stability. Not thread-safe.
 */
public final class Sampler {
    /** Top-p sorts this many candidates outright; more go through the histogram first. */
    private static final int SORT_DIRECTLY = 512;
    private static final int BUCKETS = 1024;
    private static final long PIVOT_SEED = 0x9E3779B97F4A7C15L;
    private static final int INSERTION_SORT_MAX = 16;

    private final int vocab;
    private final int[] ids;
    private final float[] vals;
    /** exp(logit - max logit) of each candidate, kept in step with ids and vals while top-p/min-p run. */
    private final float[] weights;
    private final double[] bucketMass = new double[BUCKETS];
    private long pivotState;
    /** The logits adjustLogits changed, with their earlier values, in the order they were changed. */
    private int[] savedIds = new int[64];
    private float[] savedValues = new float[64];
    private int saved;

    public Sampler(int vocabSize) {
        if (vocabSize < 1) throw new IllegalArgumentException("vocabulary size must be >= 1, got " + vocabSize);
        this.vocab = vocabSize;
        this.ids = new int[vocabSize];
        this.vals = new float[vocabSize];
        this.weights = new float[vocabSize];
    }

    public int vocabSize() {
        return vocab;
    }

    /** A generator for one sequence: the same seed gives the same draws. */
    public static SplittableRandom newRandom(SamplingParams params) {
        return new SplittableRandom(params.seed());
    }

    /**
     * Advances {@code random} past the draws of {@code tokens} samples with {@code params}, as if they had been
     * sampled: {@link #sample} takes exactly one {@code nextDouble()} per call unless greedy (none), whatever the
     * logits, so a generation resumed after n published tokens draws what an uninterrupted one would draw next.
     */
    public static void skipDraws(SplittableRandom random, SamplingParams params, int tokens) {
        if (params.greedy()) return;
        for (int i = 0; i < tokens; i++) random.nextDouble();
    }

    /** The token for the logits at {@code logits[offset .. offset + vocabSize)}. */
    public int sample(float[] logits, int offset, SamplingParams p, SplittableRandom random) {
        if (p.greedy()) return argmax(logits, offset, vocab);
        int n = 0;
        for (int i = 0; i < vocab; i++) {
            float v = logits[offset + i];
            if (Float.isNaN(v) || v == Float.NEGATIVE_INFINITY) continue; // never drawable
            ids[n] = i;
            vals[n] = v;
            n++;
        }
        if (n == 0) throw new IllegalStateException("every logit is NaN or -infinity; nothing to sample");
        pivotState = PIVOT_SEED;
        if (p.topK() > 0 && p.topK() < n) {
            select(0, n - 1, p.topK());
            n = p.topK();
            sort(0, n - 1); // a canonical order for the draw
        }
        if (p.topP() < 1f || p.minP() > 0f) n = keepTopPAndMinP(n, p.topP(), p.minP());
        return draw(n, p.temperature(), random);
    }

    /**
     * Applies {@code p}'s logit bias and penalties to the row in place: bias added; then for each token with a
     * count in {@code recent} (the last repeat_last_n tokens, prompt included) the logit divided by repeat_penalty
     * when positive, multiplied when not; then for each token generated {@code c} times (in {@code generated})
     * {@code c * frequency_penalty + presence_penalty} subtracted. The formulas are llama.cpp's
     * (llama_sampler_penalties), in float. Costs the number of distinct counted tokens plus the bias entries, never
     * the vocabulary. {@link #restoreLogits} puts every changed logit back. A count table may be null when its
     * penalty is off.
     */
    public void adjustLogits(float[] logits, int offset, SamplingParams p, TokenCounts generated, TokenCounts recent) {
        saved = 0;
        LogitBias bias = p.logitBias();
        if (bias.maxToken() >= vocab) {
            throw new IllegalArgumentException("logit_bias names token " + bias.maxToken() + ", outside the vocabulary of " + vocab);
        }
        for (int i = 0; i < bias.tokens().length; i++) {
            int t = bias.tokens()[i];
            save(t, logits[offset + t]);
            logits[offset + t] += bias.biases()[i];
        }
        if (p.penalizesRecent() && recent != null) {
            float r = p.repeatPenalty();
            for (int i = 0; i < recent.distinct(); i++) {
                if (recent.countAt(i) == 0) continue;
                int t = recent.id(i);
                float v = logits[offset + t];
                save(t, v);
                logits[offset + t] = v <= 0 ? v * r : v / r;
            }
        }
        if (p.penalizesGenerated() && generated != null) {
            float freq = p.frequencyPenalty(), presence = p.presencePenalty();
            for (int i = 0; i < generated.distinct(); i++) {
                int c = generated.countAt(i);
                if (c == 0) continue;
                int t = generated.id(i);
                float v = logits[offset + t];
                save(t, v);
                logits[offset + t] = v - ((float) c * freq + presence);
            }
        }
    }

    /** Undoes the last {@link #adjustLogits} on the same row: latest change first, so each logit gets its first value. */
    public void restoreLogits(float[] logits, int offset) {
        for (int i = saved - 1; i >= 0; i--) logits[offset + savedIds[i]] = savedValues[i];
        saved = 0;
    }

    private void save(int token, float value) {
        if (saved == savedIds.length) {
            savedIds = java.util.Arrays.copyOf(savedIds, saved * 2);
            savedValues = java.util.Arrays.copyOf(savedValues, saved * 2);
        }
        savedIds[saved] = token;
        savedValues[saved++] = value;
    }

    /**
     * The log-probability of {@code token} and of the {@code top} most likely tokens (largest logit first, ties to the
     * lower id) under softmax of {@code logits[offset .. offset + n)} as given: log p_i = x_i - (m + log sum_j exp(x_j -
     * m)), m the largest logit, the sum in double in id order, so the result is the same on every machine and vector
     * width. NaN counts as -infinity. The caller passes the model's raw row (before bias, penalties, temperature).
     */
    public static TokenLogprobs logprobs(float[] logits, int offset, int n, int token, int top) {
        double max = Double.NEGATIVE_INFINITY;
        for (int i = 0; i < n; i++) {
            float v = logits[offset + i];
            if (v > max) max = v; // NaN compares false
        }
        if (max == Double.NEGATIVE_INFINITY) throw new IllegalStateException("every logit is NaN or -infinity");
        double sum = 0;
        for (int i = 0; i < n; i++) {
            float v = logits[offset + i];
            if (v > Float.NEGATIVE_INFINITY) sum += Math.exp(v - max);
        }
        double logZ = max + Math.log(sum);
        top = Math.min(top, n);
        int[] ids = new int[top];
        double[] lps = new double[top];
        float[] best = new float[top];
        int have = 0;
        for (int i = 0; i < n && top > 0; i++) {
            float v = logits[offset + i];
            if (Float.isNaN(v)) v = Float.NEGATIVE_INFINITY;
            if (have == top && !(v > best[top - 1])) continue; // ties keep the lower id already in
            int j = have < top ? have++ : top - 1;
            while (j > 0 && v > best[j - 1]) {
                best[j] = best[j - 1];
                ids[j] = ids[j - 1];
                j--;
            }
            best[j] = v;
            ids[j] = i;
        }
        for (int i = 0; i < top; i++) lps[i] = logprobOf(best[i], logZ);
        float chosen = logits[offset + token];
        return new TokenLogprobs(token, logprobOf(Float.isNaN(chosen) ? Float.NEGATIVE_INFINITY : chosen, logZ), ids, lps);
    }

    private static double logprobOf(float logit, double logZ) {
        return logit == Float.NEGATIVE_INFINITY ? Double.NEGATIVE_INFINITY : logit - logZ;
    }

    /** The index of the largest value, the lowest such index on ties (NaN never wins). */
    public static int argmax(float[] logits, int offset, int n) {
        int best = 0;
        float bestVal = Float.NEGATIVE_INFINITY;
        boolean found = false;
        for (int i = 0; i < n; i++) {
            float v = logits[offset + i];
            if (!found ? !Float.isNaN(v) : v > bestVal) {
                best = i;
                bestVal = v;
                found = true;
            }
        }
        return best;
    }

    /**
     * Both filters keep a prefix of the candidates in descending order, and min-p's threshold is a ratio to the
     * top probability (unchanged by top-p), so the result is the shorter of the two prefixes, both measured
     * over the candidates as they are now. To avoid sorting a whole vocabulary, a histogram of the probability
     * mass over logit buckets finds the bucket where top-p's mass is reached; only the candidates up to that
     * bucket are sorted and walked exactly.
     */
    private int keepTopPAndMinP(int n, float topP, float minP) {
        float max = Float.NEGATIVE_INFINITY;
        for (int i = 0; i < n; i++) max = Math.max(max, vals[i]);
        if (topP >= 1f) return partitionLogitAtLeast(n, max + (float) Math.log(minP)); // min-p alone needs no exp
        double z = 0;
        for (int i = 0; i < n; i++) {
            float w = (float) Math.exp((double) vals[i] - max); // probability relative to the top one
            weights[i] = w;
            z += w;
        }
        int m = n;
        if (minP > 0f) m = partitionWeightAtLeast(n, minP);
        if (topP >= 1f) return m;
        double target = topP * z;
        if (m > SORT_DIRECTLY) m = bucketsReaching(m, max, target);
        sort(0, m - 1);
        double cum = 0;
        for (int i = 0; i < m; i++) {
            cum += weights[i];
            if (cum >= target) return i + 1;
        }
        return m;
    }

    /** Moves the candidates with logit {@code >= threshold} to the front (p >= minP * pmax); returns how many. */
    private int partitionLogitAtLeast(int n, float threshold) {
        int m = 0;
        for (int i = 0; i < n; i++) {
            if (vals[i] >= threshold) {
                swap(i, m);
                m++;
            }
        }
        return m;
    }

    /** Moves the candidates with weight {@code >= minWeight} to the front; returns how many there are. */
    private int partitionWeightAtLeast(int n, float minWeight) {
        int m = 0;
        for (int i = 0; i < n; i++) {
            if (weights[i] >= minWeight) {
                swap(i, m);
                m++;
            }
        }
        return m;
    }

    /**
     * Moves to the front the candidates of the highest logit buckets whose weights add up to {@code target}
     * (with the whole bucket that crosses it); returns how many. Buckets split [min logit, max] evenly.
     */
    private int bucketsReaching(int m, float max, double target) {
        float min = Float.POSITIVE_INFINITY;
        for (int i = 0; i < m; i++) min = Math.min(min, vals[i]);
        if (!(max > min)) return m;
        double scale = BUCKETS / ((double) max - min);
        java.util.Arrays.fill(bucketMass, 0);
        for (int i = 0; i < m; i++) bucketMass[bucket(vals[i], max, scale)] += weights[i];
        int cut = BUCKETS - 1;
        double cum = 0;
        for (int b = 0; b < BUCKETS; b++) {
            cum += bucketMass[b];
            if (cum >= target) {
                cut = b;
                break;
            }
        }
        int k = 0;
        for (int i = 0; i < m; i++) {
            if (bucket(vals[i], max, scale) <= cut) {
                swap(i, k);
                k++;
            }
        }
        return k;
    }

    private static int bucket(float v, float max, double scale) {
        return (int) Math.min(BUCKETS - 1, ((double) max - v) * scale);
    }

    private int draw(int n, float temperature, SplittableRandom random) {
        float max = Float.NEGATIVE_INFINITY;
        for (int i = 0; i < n; i++) max = Math.max(max, vals[i]);
        double inv = 1.0 / temperature, sum = 0;
        for (int i = 0; i < n; i++) {
            float w = (float) Math.exp(((double) vals[i] - max) * inv);
            vals[i] = w;
            sum += w;
        }
        double u = random.nextDouble() * sum, cum = 0;
        for (int i = 0; i < n; i++) {
            cum += vals[i];
            if (u < cum) return ids[i];
        }
        // rounding left u at the very end: the last candidate with weight
        for (int i = n - 1; i > 0; i--) if (vals[i] > 0) return ids[i];
        return ids[0];
    }

    /** Candidate a ranks before b: larger logit, then lower id. */
    private boolean before(int a, int b) {
        return vals[a] > vals[b] || (vals[a] == vals[b] && ids[a] < ids[b]);
    }

    private void swap(int a, int b) {
        int t = ids[a];
        ids[a] = ids[b];
        ids[b] = t;
        float v = vals[a];
        vals[a] = vals[b];
        vals[b] = v;
        float w = weights[a];
        weights[a] = weights[b];
        weights[b] = w;
    }

    /** Rearranges [lo, hi] so that its first k (counted from lo) candidates are the k best (unordered). */
    private void select(int lo, int hi, int k) {
        int target = lo + k - 1;
        while (lo < hi) {
            int p = partition(lo, hi);
            if (p == target) return;
            if (p < target) lo = p + 1;
            else hi = p - 1;
        }
    }

    /** Sorts [lo, hi] in rank order (quicksort; recursion on the smaller side keeps the stack shallow). */
    private void sort(int lo, int hi) {
        while (hi - lo > INSERTION_SORT_MAX) {
            int p = partition(lo, hi);
            if (p - lo < hi - p) {
                sort(lo, p - 1);
                lo = p + 1;
            } else {
                sort(p + 1, hi);
                hi = p - 1;
            }
        }
        for (int i = lo + 1; i <= hi; i++) {
            for (int j = i; j > lo && before(j, j - 1); j--) swap(j, j - 1);
        }
    }

    /**
     * Lomuto partition around a pseudo-random pivot (median-of-three goes quadratic on some layouts, such as
     * a top token followed by a long run of ties); returns the pivot's final index. The pivot generator restarts
     * at every sample() call and candidates are totally ordered, so results never depend on it.
     */
    private int partition(int lo, int hi) {
        pivotState ^= pivotState << 13;
        pivotState ^= pivotState >>> 7;
        pivotState ^= pivotState << 17;
        int pivot = lo + (int) Long.remainderUnsigned(pivotState, hi - lo + 1);
        swap(pivot, hi);
        int store = lo;
        for (int i = lo; i < hi; i++) {
            if (before(i, hi)) {
                swap(i, store);
                store++;
            }
        }
        swap(store, hi);
        return store;
    }
}
