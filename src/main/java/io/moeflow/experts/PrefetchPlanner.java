package io.moeflow.experts;

/**
 * Which experts of the next MoE layer to read ahead: the model's own routing ({@link ExpertRouting}) applied to
 * the current residual stream as if it were that layer's input, one vote per token and chosen expert, the most
 * voted first, at most {@code cap}.
 *
 * <p>Locking: confined to the forward thread (the one that calls {@link ExpertStore#ffnInput}); its buffers
 * grow to the largest step seen and are then reused.
 */
final class PrefetchPlanner {
    private final ExpertRouting routing;
    private int[] predicted = new int[0], votes = new int[0], ids = new int[0];

    PrefetchPlanner(ExpertRouting routing) {
        this.routing = routing;
    }

    /** Plans the reads for layer {@code next} from {@code x} ({@code n} tokens); returns how many of {@link #ids()}. */
    int plan(CachedLayer next, float[] x, int n, int cap) {
        int ne = next.nExpert;
        predicted = fit(predicted, n * ne);
        votes = fit(votes, ne);
        ids = fit(ids, ne);
        int k = routing.route(next.index, x, n, predicted);
        java.util.Arrays.fill(votes, 0, ne, 0);
        for (int i = 0; i < n * k; i++) votes[predicted[i]]++;
        int count = 0;
        while (count < cap) {
            int best = -1;
            for (int e = 0; e < ne; e++) if (votes[e] > 0 && (best < 0 || votes[e] > votes[best])) best = e;
            if (best < 0) break;
            votes[best] = 0;
            ids[count++] = best;
        }
        return count;
    }

    /** The experts of the last plan, most voted first. */
    int[] ids() {
        return ids;
    }

    private static int[] fit(int[] buf, int n) {
        return buf.length >= n ? buf : new int[Math.max(n, buf.length + buf.length / 2)];
    }
}
