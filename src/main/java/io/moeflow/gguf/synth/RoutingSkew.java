package io.moeflow.gguf.synth;

import java.util.Arrays;
import java.util.Locale;
import java.util.SplittableRandom;

/**
 * Zipf-like expert popularity for synthetic routers: in every MoE layer the experts, in a seeded order per layer,
 * should be chosen with frequencies proportional to {@code 1 / rank^s} (capped at one choice per token, the excess
 * spread over the others so that each token still chooses {@code k}).
 *
 * <p>Mechanism, as in real models where a few residual-stream dimensions carry large activations common to all
 * tokens ("massive activations") and act as biases: the token embedding gets a constant value in one dimension,
 * so every hidden state has a component the same for all tokens; each router row gets a weight on that dimension
 * that turns the component into a per-expert logit offset. The offsets are calibrated here by Monte Carlo on the
 * model "logit = offset + N(0, 1)" (the random router part in units of its standard deviation), top-k, until
 * the selection frequencies match the Zipf targets; {@link SyntheticModel} scales them into weights.
 */
public record RoutingSkew(double zipf) {
    public RoutingSkew {
        if (!(zipf > 0) || zipf > 10) throw new IllegalArgumentException("zipf exponent must be in (0, 10], got " + zipf);
    }

    /** Parses {@code zipf:S}; {@code none} or an empty string gives null (uniform routing). */
    public static RoutingSkew parse(String spec) {
        if (spec == null || spec.isBlank() || spec.trim().equalsIgnoreCase("none")) return null;
        Double zipf = null;
        for (String part : spec.split(",")) {
            String[] kv = part.trim().split(":", 2);
            String key = kv[0].trim().toLowerCase(Locale.ROOT);
            if (kv.length != 2) throw new IllegalArgumentException("--skew '" + spec + "': expected key:value, got '" + part + "'");
            double v;
            try {
                v = Double.parseDouble(kv[1].trim());
            } catch (NumberFormatException e) {
                throw new IllegalArgumentException("--skew '" + spec + "': '" + kv[1] + "' is not a number");
            }
            switch (key) {
                case "zipf" -> zipf = v;
                case "corr" -> throw new IllegalArgumentException("--skew '" + spec
                        + "': corr (correlated consecutive hidden states) is not implemented; use zipf:S");
                default -> throw new IllegalArgumentException("--skew '" + spec + "': unknown key '" + kv[0] + "' (supported: zipf)");
            }
        }
        if (zipf == null) throw new IllegalArgumentException("--skew '" + spec + "': zipf:S is required");
        return new RoutingSkew(zipf);
    }

    /** The canonical description, written to {@code moeflow.synth.skew}. */
    public String describe() {
        return String.format(Locale.ROOT, "zipf:%s", trim(zipf));
    }

    private static String trim(double v) {
        return v == Math.rint(v) ? Long.toString((long) v) : Double.toString(v);
    }

    /**
     * Target selection probability per token of the expert of popularity rank {@code r} (0 = most popular):
     * {@code min(1, c / (r+1)^s)} with c such that the probabilities sum to {@code used}.
     */
    public double[] targetShares(int experts, int used) {
        double[] w = new double[experts];
        for (int r = 0; r < experts; r++) w[r] = Math.pow(r + 1, -zipf);
        double lo = 0, hi = 1;
        while (sum(w, hi) < used) hi *= 2;
        for (int it = 0; it < 100; it++) {
            double mid = (lo + hi) / 2;
            if (sum(w, mid) < used) lo = mid;
            else hi = mid;
        }
        double[] p = new double[experts];
        for (int r = 0; r < experts; r++) p[r] = Math.min(1, hi * w[r]);
        return p;
    }

    private static double sum(double[] w, double c) {
        double s = 0;
        for (double x : w) s += Math.min(1, c * x);
        return s;
    }

    /**
     * Logit offsets by popularity rank (0 = most popular, mean 0), in units of the random logit's standard deviation,
     * such that top-{@code used} of {@code offset + N(0, 1)} picks rank r with about {@link #targetShares} r.
     * Deterministic: a fixed Monte Carlo sample.
     */
    public double[] calibratedOffsets(int experts, int used) {
        double[] target = targetShares(experts, used);
        double[] offset = new double[experts];
        for (int r = 0; r < experts; r++) offset[r] = Math.log(target[r] * experts / used); // a fair start
        int draws = 8192;
        double[][] noise = new double[draws][experts];
        SplittableRandom rnd = new SplittableRandom(0x5EED_2024L);
        for (double[] row : noise) for (int e = 0; e < experts; e++) row[e] = rnd.nextGaussian();
        double[] logits = new double[experts];
        int[] count = new int[experts];
        boolean[] chosen = new boolean[experts];
        for (int it = 0; it < 80; it++) {
            Arrays.fill(count, 0);
            for (double[] row : noise) {
                for (int e = 0; e < experts; e++) logits[e] = offset[e] + row[e];
                Arrays.fill(chosen, false);
                for (int k = 0; k < used; k++) {
                    int best = -1;
                    for (int e = 0; e < experts; e++) if (!chosen[e] && (best < 0 || logits[e] > logits[best])) best = e;
                    chosen[best] = true;
                    count[best]++;
                }
            }
            for (int e = 0; e < experts; e++) {
                double freq = Math.max(count[e], 0.5) / draws;
                double want = Math.min(target[e], 1 - 0.5 / draws); // a share of 1 is reached only in the limit
                offset[e] = Math.clamp(offset[e] + 0.7 * Math.log(want / freq), -12, 12);
            }
            // the targets fall with the rank, so must the offsets: sorting removes the sample's noise inversions
            Arrays.sort(offset);
            for (int i = 0, j = experts - 1; i < j; i++, j--) {
                double tmp = offset[i];
                offset[i] = offset[j];
                offset[j] = tmp;
            }
        }
        double mean = Arrays.stream(offset).average().orElse(0);
        for (int e = 0; e < experts; e++) offset[e] -= mean;
        return offset;
    }
}
