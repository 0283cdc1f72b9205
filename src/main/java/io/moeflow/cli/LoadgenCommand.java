package io.moeflow.cli;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.moeflow.loadgen.ClosedLoop;
import io.moeflow.loadgen.EngineTarget;
import io.moeflow.loadgen.HttpTarget;
import io.moeflow.loadgen.KafkaTarget;
import io.moeflow.loadgen.LevelResult;
import io.moeflow.loadgen.LoadTarget;
import io.moeflow.loadgen.PromptSizer;
import io.moeflow.loadgen.RequestSpec;
import io.moeflow.loadgen.RequestTrace;
import java.io.IOException;
import java.net.URI;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.TreeMap;
import java.util.UUID;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

/**
 * Drives a running service through HTTP (streamed /v1/completions) and/or Kafka (prompt records in, token events
 * out) at several concurrencies, closed loop, and reports aggregate tokens/s, time to first token and inter-token
 * latency percentiles per level. Compare with {@code moeflow bench --concurrency} (its {@code wall_tps}) on the same
 * model, prompt length and generated tokens: see docs/BENCHMARKS.md and scripts/bench-service.sh.
 */
@Command(name = "loadgen", mixinStandardHelpOptions = true,
        description = "Load a running service over HTTP SSE and/or Kafka: aggregate tokens/s, TTFT and ITL percentiles per concurrency.")
final class LoadgenCommand implements Callable<Integer> {
    enum Via { http, kafka, both, engine }

    @Option(names = "--url", defaultValue = "http://localhost:8080", description = "The service's HTTP base URL (default: ${DEFAULT-VALUE}).")
    URI url;

    @Option(names = "--kafka", paramLabel = "HOST:PORT", defaultValue = "localhost:9092",
            description = "Bootstrap servers of the service's Kafka cluster (default: ${DEFAULT-VALUE}).")
    String kafka;

    @Option(names = "--prompts-topic", defaultValue = "moeflow.prompts", description = "Default: ${DEFAULT-VALUE}.")
    String promptsTopic;

    @Option(names = "--tokens-topic", defaultValue = "moeflow.tokens", description = "Default: ${DEFAULT-VALUE}.")
    String tokensTopic;

    @Option(names = "--via", defaultValue = "both", description = "http, kafka, both (HTTP first, then Kafka; default: ${DEFAULT-VALUE}), "
            + "or engine: the same closed loop on the engine alone in this process (needs --model), the service's baseline.")
    Via via;

    @Option(names = "--model", description = "With --via engine: the GGUF file to load.")
    Path model;

    @Option(names = "--threads", defaultValue = "0", description = "With --via engine: compute threads; 0 = available processors.")
    int threads;

    /** With --via engine: the expert store, as `serve --expert-cache` would use it. */
    @Mixin
    ExpertCacheOptions expertCache = new ExpertCacheOptions();

    @Option(names = "--concurrency", split = ",", defaultValue = "1,4,16", description = "Requests in flight, one level each (default: ${DEFAULT-VALUE}).")
    int[] concurrency;

    @Option(names = "--requests", defaultValue = "0", description = "Requests per level; 0 = max(4, 2 x concurrency).")
    int requests;

    @Option(names = "--prompt-tokens", defaultValue = "16",
            description = "Prompt length in tokens, as the service counts them (a repeated word, sized by warm-up requests; default: ${DEFAULT-VALUE}).")
    int promptTokens;

    @Option(names = "--prompt", description = "Send this text as the prompt instead of a sized one.")
    String prompt;

    @Option(names = "--max-tokens", defaultValue = "32", description = "max_tokens of every request (default: ${DEFAULT-VALUE}); a request may stop earlier at end-of-generation, tokens are counted as generated.")
    int maxTokens;

    @Option(names = "--temperature", defaultValue = "0", description = "Default: ${DEFAULT-VALUE} (greedy).")
    double temperature;

    @Option(names = "--api-key", defaultValue = "${env:MOEFLOW_API_KEY}", description = "Bearer key for HTTP (default: $MOEFLOW_API_KEY).")
    String apiKey;

    @Option(names = "--warmup", defaultValue = "1", description = "Untimed full-length requests per path before measuring (default: ${DEFAULT-VALUE}).")
    int warmup;

    @Option(names = "--timeout-seconds", defaultValue = "600", description = "Longest wait for one request (default: ${DEFAULT-VALUE}).")
    int timeoutSeconds;

    @Option(names = "--json", paramLabel = "FILE", description = "Also write the results as a JSON list to FILE.")
    Path json;

    @Option(names = "--baseline", paramLabel = "FILE",
            description = "The JSON of `moeflow bench --concurrency ... --json` on the same model and workload: adds each level's aggregate as a share of the engine's wall_tps.")
    Path baseline;

    @Override
    public Integer call() throws InterruptedException, IOException {
        if (concurrency.length == 0) throw new IllegalArgumentException("--concurrency needs at least one level");
        for (int c : concurrency) if (c < 1) throw new IllegalArgumentException("--concurrency levels must be >= 1, got " + c);
        if (requests < 0) throw new IllegalArgumentException("--requests must be >= 0, got " + requests);
        if (warmup < 0) throw new IllegalArgumentException("--warmup must be >= 0, got " + warmup);
        if (timeoutSeconds < 1) throw new IllegalArgumentException("--timeout-seconds must be >= 1, got " + timeoutSeconds);
        RequestSpec spec = new RequestSpec(prompt != null ? prompt : PromptSizer.prompt(1), maxTokens, temperature);
        Duration timeout = Duration.ofSeconds(timeoutSeconds);
        Map<Integer, Double> engineTps = baseline == null ? Map.of() : engineTps(baseline);
        String run = "loadgen-" + UUID.randomUUID().toString().substring(0, 8);
        List<LevelResult> results = new ArrayList<>();
        boolean sized = prompt != null;
        for (Via path : via == Via.both ? List.of(Via.http, Via.kafka) : List.of(via)) {
            try (LoadTarget target = target(path, timeout)) {
                System.err.printf(Locale.ROOT, "loadgen: %s via %s%n", switch (path) {
                    case http -> url.toString();
                    case engine -> model + " (in this process)";
                    default -> kafka + " (" + promptsTopic + " -> " + tokensTopic + ")";
                }, path);
                if (!sized) {
                    PromptSizer.Sized s = PromptSizer.size(target, spec, promptTokens, run + "-" + path);
                    spec = spec.withPrompt(s.prompt());
                    sized = true;
                    System.err.printf(Locale.ROOT, "loadgen: prompt of %s tokens (asked %d), max_tokens %d, temperature %s%n",
                            s.promptTokens() < 0 ? "?" : Integer.toString(s.promptTokens()), promptTokens, maxTokens, temperature);
                }
                for (int w = 0; w < warmup; w++) {
                    RequestTrace t = target.send(run + "-" + path + "-warmup-" + w, spec);
                    if (!t.ok()) throw new IllegalStateException("warm-up request via " + path + " failed: " + t.error());
                }
                for (int c : concurrency) {
                    int n = requests > 0 ? requests : Math.max(4, 2 * c);
                    System.err.printf(Locale.ROOT, "loadgen: %s concurrency %d, %d requests...%n", path, c, n);
                    int every = Math.max(1, n / 8);
                    LevelResult r = ClosedLoop.run(target, spec, c, n, run + "-" + path + "-c" + c, (done, total, trace) -> {
                        if (done % every == 0 || !trace.ok()) {
                            System.err.printf(Locale.ROOT, "loadgen: %s concurrency %d: %d/%d%s%n", path, c, done, total,
                                    trace.ok() ? "" : " error: " + trace.error());
                        }
                    });
                    System.err.printf(Locale.ROOT, "loadgen: %s concurrency %d: %.1f tokens/s, TTFT p50 %.1f ms, ITL p50 %.1f ms, %d errors%s%n",
                            path, c, r.aggregateTps(), r.ttftMs().p50(), r.itlMs().p50(), r.errors(),
                            r.firstError() == null ? "" : " (first: " + r.firstError() + ")");
                    results.add(r);
                }
            }
        }
        System.out.print(LevelResult.table(results, engineTps));
        if (json != null) Files.writeString(json, LevelResult.json(results, engineTps));
        return results.stream().anyMatch(r -> r.errors() > 0) ? 1 : 0;
    }

    private LoadTarget target(Via path, Duration timeout) {
        return switch (path) {
            case http -> new HttpTarget(url, apiKey, timeout);
            case kafka -> new KafkaTarget(kafka, promptsTopic, tokensTopic, timeout);
            case engine -> {
                if (model == null) throw new IllegalArgumentException("--via engine needs --model");
                int n = CliSupport.threads(threads);
                System.err.printf(Locale.ROOT, "loadgen: loading %s (%d threads)%n", model, n);
                yield new EngineTarget(model, n, expertCache.config(), EngineTarget.SERVICE_DEFAULTS);
            }
            case both -> throw new IllegalStateException("both is two paths");
        };
    }

    /** concurrency → wall_tps from the JSON list `moeflow bench --concurrency --json` prints. */
    static Map<Integer, Double> engineTps(Path file) throws IOException {
        JsonNode rows;
        try {
            rows = new ObjectMapper().readTree(Files.readString(file));
        } catch (JsonProcessingException e) {
            throw new IllegalArgumentException("--baseline " + file + " is not JSON: " + e.getOriginalMessage());
        }
        if (rows == null || !rows.isArray()) throw new IllegalArgumentException("--baseline " + file + " must hold the JSON list of `moeflow bench --concurrency ... --json`");
        Map<Integer, Double> tps = new TreeMap<>();
        for (JsonNode row : rows) {
            // loadgen's own --via engine rows (the same closed loop: the fair baseline) or bench's wall_tps
            String field = "engine".equals(row.path("via").asText()) ? "aggregate_tps" : "wall_tps";
            if (!row.path("concurrency").canConvertToInt() || !row.path(field).isNumber()) {
                throw new IllegalArgumentException("--baseline " + file + ": every entry needs numeric \"concurrency\" and \"" + field + "\", got " + row);
            }
            tps.put(row.get("concurrency").asInt(), row.get(field).asDouble());
        }
        return tps;
    }
}
