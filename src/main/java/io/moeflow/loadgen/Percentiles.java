package io.moeflow.loadgen;

import java.util.Arrays;

/**
 * The 50th, 90th and 99th percentiles of a sample, by linear interpolation between the closest ranks (numpy's
 * default "linear" method: the q-quantile of n sorted values sits at rank q·(n−1)). NaN for an empty sample.
 */
public record Percentiles(double p50, double p90, double p99) {
    public static final Percentiles NONE = new Percentiles(Double.NaN, Double.NaN, Double.NaN);

    public static Percentiles of(double[] values) {
        if (values.length == 0) return NONE;
        double[] sorted = values.clone();
        Arrays.sort(sorted);
        return new Percentiles(quantile(sorted, 0.50), quantile(sorted, 0.90), quantile(sorted, 0.99));
    }

    /** The q-quantile (0 ≤ q ≤ 1) of values already sorted in ascending order. */
    public static double quantile(double[] sorted, double q) {
        if (sorted.length == 0) return Double.NaN;
        if (!(q >= 0 && q <= 1)) throw new IllegalArgumentException("quantile must be in [0, 1], got " + q);
        double rank = q * (sorted.length - 1);
        int below = (int) Math.floor(rank);
        int above = Math.min(below + 1, sorted.length - 1);
        return sorted[below] + (rank - below) * (sorted[above] - sorted[below]);
    }
}
