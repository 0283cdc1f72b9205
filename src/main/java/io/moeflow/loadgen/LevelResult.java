package io.moeflow.loadgen;

import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * The figures of one concurrency level.
 *
 * <p>{@code aggregateTps} = the generated tokens of all successful requests ÷ the level's wall time (first send to
 * last answer, prefill included: the same definition as {@code wall_tps} of {@code moeflow bench --concurrency}).
 * TTFT is first output − send, per request; ITL the gaps between successive outputs of a request, pooled over
 * all requests. Both only over successful requests.
 */
public record LevelResult(String via, int concurrency, int requests, int errors, long tokens, double wallSeconds,
                          double aggregateTps, double meanPromptTokens, double meanTokensPerRequest,
                          Percentiles ttftMs, Percentiles itlMs, String firstError) {

    public static LevelResult of(String via, int concurrency, List<RequestTrace> traces, long startNanos, long endNanos) {
        if (endNanos <= startNanos) throw new IllegalArgumentException("the level ends before it starts");
        int errors = 0;
        long tokens = 0;
        long promptSum = 0;
        int promptKnown = 0;
        String firstError = null;
        List<Double> ttft = new ArrayList<>();
        List<Double> itl = new ArrayList<>();
        for (RequestTrace t : traces) {
            if (!t.ok()) {
                errors++;
                if (firstError == null) firstError = t.error();
                continue;
            }
            tokens += t.tokens();
            if (t.promptTokens() >= 0) {
                promptSum += t.promptTokens();
                promptKnown++;
            }
            if (t.tokenNanos().length > 0) ttft.add(t.ttftMs());
            for (int i = 1; i < t.tokenNanos().length; i++) itl.add((t.tokenNanos()[i] - t.tokenNanos()[i - 1]) / 1e6);
        }
        int ok = traces.size() - errors;
        double wall = (endNanos - startNanos) / 1e9;
        return new LevelResult(via, concurrency, traces.size(), errors, tokens, wall, tokens / wall,
                promptKnown == 0 ? Double.NaN : (double) promptSum / promptKnown,
                ok == 0 ? Double.NaN : (double) tokens / ok,
                Percentiles.of(unbox(ttft)), Percentiles.of(unbox(itl)), firstError);
    }

    private static double[] unbox(List<Double> values) {
        return values.stream().mapToDouble(Double::doubleValue).toArray();
    }

    /**
     * A fixed-width table, one row per level.
     *
     * @param engineTps the engine-only aggregate (bench's wall_tps) by concurrency, for a "vs engine" column; may be empty
     */
    public static String table(List<LevelResult> results, Map<Integer, Double> engineTps) {
        StringBuilder sb = new StringBuilder();
        sb.append(String.format(Locale.ROOT, "%-5s %4s %8s %6s %8s %8s %11s %26s %26s%s%n", "via", "conc", "requests",
                "errors", "tokens", "wall s", "agg t/s", "TTFT ms p50/p90/p99", "ITL ms p50/p90/p99",
                engineTps.isEmpty() ? "" : "  vs engine"));
        for (LevelResult r : results) {
            Double engine = engineTps.get(r.concurrency());
            String ratio = engineTps.isEmpty() ? "" : engine == null ? String.format(Locale.ROOT, "%11s", "-")
                    : String.format(Locale.ROOT, "%10.1f%%", 100 * r.aggregateTps() / engine);
            sb.append(String.format(Locale.ROOT, "%-5s %4d %8d %6d %8d %8.2f %11.1f %26s %26s%s%n", r.via(), r.concurrency(),
                    r.requests(), r.errors(), r.tokens(), r.wallSeconds(), r.aggregateTps(), triple(r.ttftMs()), triple(r.itlMs()), ratio));
        }
        return sb.toString();
    }

    private static String triple(Percentiles p) {
        return String.format(Locale.ROOT, "%.1f/%.1f/%.1f", p.p50(), p.p90(), p.p99());
    }

    /** A JSON list of objects, one per level (NaN figures are null); engine_tps and vs_engine where known. */
    public static String json(List<LevelResult> results, Map<Integer, Double> engineTps) {
        StringBuilder sb = new StringBuilder("[");
        for (int i = 0; i < results.size(); i++) {
            LevelResult r = results.get(i);
            if (i > 0) sb.append(",\n ");
            sb.append("{\"via\": \"").append(r.via()).append('"')
                    .append(", \"concurrency\": ").append(r.concurrency())
                    .append(", \"requests\": ").append(r.requests())
                    .append(", \"errors\": ").append(r.errors())
                    .append(", \"tokens\": ").append(r.tokens())
                    .append(", \"wall_s\": ").append(number(r.wallSeconds()))
                    .append(", \"aggregate_tps\": ").append(number(r.aggregateTps()))
                    .append(", \"prompt_tokens\": ").append(number(r.meanPromptTokens()))
                    .append(", \"tokens_per_request\": ").append(number(r.meanTokensPerRequest()))
                    .append(", \"ttft_ms\": ").append(percentiles(r.ttftMs()))
                    .append(", \"itl_ms\": ").append(percentiles(r.itlMs()))
                    .append(", \"first_error\": ").append(r.firstError() == null ? "null" : quote(r.firstError()));
            Double engine = engineTps.get(r.concurrency());
            if (engine != null) {
                sb.append(", \"engine_tps\": ").append(number(engine))
                        .append(", \"vs_engine\": ").append(number(r.aggregateTps() / engine));
            }
            sb.append('}');
        }
        return sb.append("]\n").toString();
    }

    private static String percentiles(Percentiles p) {
        return "{\"p50\": " + number(p.p50()) + ", \"p90\": " + number(p.p90()) + ", \"p99\": " + number(p.p99()) + "}";
    }

    private static String number(double v) {
        return Double.isFinite(v) ? String.format(Locale.ROOT, "%.3f", v) : "null";
    }

    private static String quote(String s) {
        StringBuilder sb = new StringBuilder("\"");
        for (char c : s.toCharArray()) {
            switch (c) {
                case '"' -> sb.append("\\\"");
                case '\\' -> sb.append("\\\\");
                case '\n' -> sb.append("\\n");
                case '\r' -> sb.append("\\r");
                case '\t' -> sb.append("\\t");
                default -> {
                    if (c < 0x20) sb.append(String.format(Locale.ROOT, "\\u%04x", (int) c));
                    else sb.append(c);
                }
            }
        }
        return sb.append('"').toString();
    }
}
