package io.moeflow.loadgen;

/**
 * What the client saw of one request, in System.nanoTime() units.
 *
 * @param sentNanos   just before the request left (HTTP send, Kafka produce)
 * @param tokenNanos  arrival time of each message that carried generated output (an SSE chunk, a token event),
 *                    in order; TTFT is its first entry minus {@code sentNanos}, ITL the gaps between entries
 * @param doneNanos   when the request's end was seen
 * @param tokens      generated tokens, from the service's usage figures (counted messages where it gave none)
 * @param promptTokens prompt tokens the service counted, -1 when unknown
 * @param error       null on success, else what went wrong
 */
public record RequestTrace(long sentNanos, long[] tokenNanos, long doneNanos, int tokens, int promptTokens, String error) {
    public static RequestTrace failed(long sentNanos, String error) {
        return new RequestTrace(sentNanos, new long[0], System.nanoTime(), 0, -1, error);
    }

    public boolean ok() {
        return error == null;
    }

    /** Time to first token in milliseconds; NaN when nothing arrived. */
    public double ttftMs() {
        return tokenNanos.length == 0 ? Double.NaN : (tokenNanos[0] - sentNanos) / 1e6;
    }
}
