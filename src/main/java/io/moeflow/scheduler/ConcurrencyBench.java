package io.moeflow.scheduler;

import io.moeflow.engine.Detokenizer;
import io.moeflow.engine.SamplingParams;
import io.moeflow.experts.ExpertCacheStats;
import io.moeflow.experts.ExpertStore;
import io.moeflow.model.DecoderModel;
import io.moeflow.model.KvCache;
import io.moeflow.model.Model;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.SplittableRandom;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;

/**
 * Aggregate generation speed against concurrency, like llama-batched-bench: for each concurrency c, c
 * requests of P random prompt tokens (ids from a fixed seed, no tokenizer) are submitted at once and each
 * generates exactly G tokens (greedy, end-of-generation ignored) through a {@link BatchScheduler}.
 *
 * <p>Per concurrency: {@code aggregate_tps} = c·(G−1) ÷ the time from the moment every stream has its first
 * token to the last token (llama-batched-bench's S_TG: the first token belongs to the prompt phase);
 * {@code per_stream_tps} = median over streams of (G−1) ÷ its own first-to-last token time;
 * {@code prefill_tps} = c·P ÷ the time from submission until every stream has its first token;
 * {@code ttft_ms} = median time to first token; {@code wall_tps} = c·G ÷ the time from submission to the last
 * token (prefill included: the aggregate of {@code moeflow loadgen}, so the service can be compared with the
 * engine alone); {@code expert_loads_per_token} = the mean over decode-only
 * steps of (distinct experts run, summed over MoE layers) ÷ tokens in the step (0 for a dense model);
 * {@code expert_lookups} = distinct experts run, summed over the steps and layers of the round. One untimed
 * request first warms up the JIT.
 *
 * <p>With a shared prefix of S tokens, every prompt (the warm-up's too) is the same S random tokens followed by its
 * own P: the case of requests sharing a system prompt. With prefix caching on, the warm-up leaves the prefix's full
 * blocks in the cache (as earlier requests with the same system prompt would), so each round's requests prefill only
 * what follows them; {@code prefix_hit_tokens} and {@code prefix_queried_tokens} are the round's prefix cache
 * counters, and {@code prefill_tps} counts all c·(S+P) prompt tokens, cached or not. With {@code coldPrefix} each
 * round has a shared prefix of its own that the cache has not seen (the first burst of requests with a new system
 * prompt: one of them computes it, the others wait for its blocks and share them).
 *
 * <p>With a budgeted expert store ({@link DecoderModel#expertStore()}), each round also reports the store's
 * counters over that round alone (snapshots before and after, subtracted; the warm-up is in no round): hit rate,
 * bytes read per token, read bandwidth, I/O wait and prefetch accuracy. Every lookup is a hit or a miss, so
 * hits + misses = {@code expert_lookups}.
 */
public final class ConcurrencyBench {
    private ConcurrencyBench() {}

    /**
     * One concurrency's figures; NaN where undefined (e.g. G = 1 has no decode phase). {@code expertCache} is the
     * expert store's counters over the round, null when the experts are resident.
     */
    public record Result(int concurrency, int promptTokens, int genTokens, double aggregateTps, double perStreamTps,
                         double prefillTps, double ttftMs, double expertLoadsPerToken, long steps, long preemptions,
                         double wallTps, long expertLookups, ExpertCacheStats expertCache, int sharedPrefixTokens,
                         long prefixHitTokens, long prefixQueriedTokens) {}

    /**
     * Runs every concurrency in order on one scheduler over {@code model}.
     *
     * @param config scheduler limits; its KV memory must hold the largest concurrency's c·(P+G) tokens or
     *               requests queue (and the figures then include waiting)
     */
    public static List<Result> run(Model model, SchedulerConfig config, int promptTokens, int genTokens,
                                   int[] concurrencies, long seed) {
        return run(model, config, 0, false, promptTokens, genTokens, concurrencies, seed);
    }

    /**
     * As {@link #run(Model, SchedulerConfig, int, int, int[], long)}, every prompt after the same {@code sharedPrefix}
     * tokens: seen by the warm-up, or with {@code coldPrefix} new in every round.
     */
    public static List<Result> run(Model model, SchedulerConfig config, int sharedPrefix, boolean coldPrefix, int promptTokens,
                                   int genTokens, int[] concurrencies, long seed) {
        if (promptTokens < 1 || genTokens < 1) throw new IllegalArgumentException("prompt and generated tokens must be >= 1");
        if (sharedPrefix < 0) throw new IllegalArgumentException("shared prefix tokens must be >= 0, got " + sharedPrefix);
        if (sharedPrefix + promptTokens + genTokens > model.info().contextLength() + 1) {
            throw new IllegalArgumentException("shared prefix + prompt + generated tokens " + (sharedPrefix + promptTokens + genTokens)
                    + " exceed the context length " + model.info().contextLength());
        }
        int vocab = model.info().vocabSize();
        int[] prefix = new SplittableRandom(seed ^ 0x5eed).ints(sharedPrefix, 0, vocab).toArray();
        for (int c : concurrencies) if (c < 1) throw new IllegalArgumentException("concurrency must be >= 1, got " + c);
        List<Result> results = new ArrayList<>();
        ExpertStore store = model instanceof DecoderModel d ? d.expertStore() : null;
        try (BatchScheduler scheduler = new BatchScheduler(model, Detokenizer.NONE, config)) {
            measure(scheduler, store, 1, prefix, promptTokens, Math.min(genTokens, 8), seed - 1); // warm-up
            for (int c : concurrencies) {
                int[] shared = coldPrefix ? new SplittableRandom(seed ^ (0x5eed + c)).ints(sharedPrefix, 0, vocab).toArray() : prefix;
                results.add(measure(scheduler, store, c, shared, promptTokens, genTokens, seed + c));
            }
        }
        return results;
    }

    /** A scheduler configuration with KV memory for c·(P+G) tokens of the largest concurrency. */
    public static SchedulerConfig configFor(Model model, int promptTokens, int genTokens, int[] concurrencies) {
        int most = Arrays.stream(concurrencies).max().orElse(1);
        long bytesPerBlock = model.newKvCache(1).bytesPerToken() * KvCache.BLOCK;
        // prompt here includes any shared prefix: without prefix caching every stream holds its own copy
        long blocks = (long) most * (KvCache.blocksFor(promptTokens + genTokens) + 1);
        return new SchedulerConfig(blocks * bytesPerBlock, SchedulerConfig.DEFAULT_MAX_BATCH_TOKENS,
                Math.max(most, SchedulerConfig.DEFAULT_MAX_SEQUENCES), Math.max(most, SchedulerConfig.DEFAULT_MAX_QUEUED));
    }

    private static Result measure(BatchScheduler scheduler, ExpertStore store, int c, int[] prefix, int promptTokens,
                                  int genTokens, long seed) {
        int vocab = scheduler.modelInfo().vocabSize();
        long[] first = new long[c], last = new long[c];
        int[] count = new int[c];
        String[] error = new String[c];
        CountDownLatch done = new CountDownLatch(c);
        // The previous round's last events come out before its sequences give back their KV blocks: start only
        // once every block is free, or this round would be admitted piecemeal and measure queueing.
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
        while ((scheduler.active() > 0 || scheduler.freeKvBlocks() < scheduler.totalKvBlocks()) && System.nanoTime() < deadline) {
            try {
                Thread.sleep(1);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new IllegalStateException("bench interrupted", e);
            }
        }
        SchedulerStats before = scheduler.stats();
        ExpertCacheStats cacheBefore = store == null ? null : store.stats();
        List<GenerationRequest> requests = new ArrayList<>();
        for (int i = 0; i < c; i++) {
            int[] own = new SplittableRandom(seed * 7919 + i).ints(promptTokens, 0, vocab).toArray();
            int[] prompt = Arrays.copyOf(prefix, prefix.length + promptTokens);
            System.arraycopy(own, 0, prompt, prefix.length, promptTokens);
            requests.add(new GenerationRequest("bench-" + c + "-" + i, prompt, SamplingParams.GREEDY, genTokens, null,
                    null, true));
        }
        long start = System.nanoTime();
        int[] next = {0};
        // all c at once, subscribed before the first step; events arrive on the step loop: stamp them there
        scheduler.submitAll(requests, handle -> {
            int stream = next[0]++;
            handle.events().subscribe().with(e -> {
                if (e.token() >= 0) {
                    long now = System.nanoTime();
                    if (count[stream]++ == 0) first[stream] = now;
                    last[stream] = now;
                }
                if (e.finish() == FinishReason.ERROR || e.finish() == FinishReason.CANCELLED) {
                    error[stream] = e.finish().wire() + (e.errorMessage() != null ? ": " + e.errorMessage() : "");
                }
                if (e.last()) done.countDown();
            });
        });
        try {
            if (!done.await(1, TimeUnit.HOURS)) throw new IllegalStateException("bench at concurrency " + c + " did not finish");
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException("bench interrupted", e);
        }
        for (int i = 0; i < c; i++) {
            if (error[i] != null) throw new IllegalStateException("bench request " + i + " at concurrency " + c + " ended with " + error[i]);
        }
        SchedulerStats after = scheduler.stats();
        ExpertCacheStats cache = store == null ? null : store.stats().since(cacheBefore);
        long allFirst = Arrays.stream(first).max().orElseThrow(), end = Arrays.stream(last).max().orElseThrow();
        double[] ttft = new double[c], perStream = new double[c];
        for (int i = 0; i < c; i++) {
            ttft[i] = (first[i] - start) / 1e6;
            perStream[i] = genTokens > 1 ? (genTokens - 1) / ((last[i] - first[i]) / 1e9) : Double.NaN;
        }
        double aggregate = genTokens > 1 ? (double) c * (genTokens - 1) / ((end - allFirst) / 1e9) : Double.NaN;
        double prefill = (double) c * (prefix.length + promptTokens) / ((allFirst - start) / 1e9);
        double wall = (double) c * genTokens / ((end - start) / 1e9);
        long decodeSteps = after.decodeSteps() - before.decodeSteps();
        double loads = decodeSteps == 0 ? Double.NaN
                : (after.decodeExpertLoadsPerToken() - before.decodeExpertLoadsPerToken()) / decodeSteps;
        long lookups = 0;
        for (int l = 0; l < after.distinctExpertsPerLayer().length; l++)
            lookups += after.distinctExpertsPerLayer()[l] - (l < before.distinctExpertsPerLayer().length ? before.distinctExpertsPerLayer()[l] : 0);
        return new Result(c, promptTokens, genTokens, aggregate, median(perStream), prefill, median(ttft), loads,
                after.steps() - before.steps(), after.preemptions() - before.preemptions(), wall, lookups, cache,
                prefix.length, after.prefixHitTokens() - before.prefixHitTokens(),
                after.prefixQueriedTokens() - before.prefixQueriedTokens());
    }

    private static double median(double[] v) {
        double[] s = v.clone();
        Arrays.sort(s);
        int n = s.length;
        return n % 2 == 1 ? s[n / 2] : (s[n / 2 - 1] + s[n / 2]) / 2;
    }

    /**
     * A fixed-width table, one row per concurrency; with a budgeted expert store, also the round's hit rate,
     * bytes read per token, read bandwidth, I/O wait and prefetch accuracy.
     */
    public static String table(List<Result> results) {
        boolean cache = results.stream().anyMatch(r -> r.expertCache() != null);
        StringBuilder sb = new StringBuilder();
        sb.append(String.format(Locale.ROOT, "%11s %14s %14s %12s %9s %22s %10s", "concurrency", "aggregate t/s",
                "per-stream t/s", "prefill t/s", "TTFT ms", "expert loads / token", "wall t/s"));
        sb.append(String.format(Locale.ROOT, " %11s", "prefix hit"));
        if (cache) sb.append(String.format(Locale.ROOT, " %9s %13s %10s %11s %11s", "hit rate", "read MB/token",
                "read MB/s", "I/O wait ms", "prefetch ok"));
        sb.append('\n');
        for (Result r : results) {
            sb.append(String.format(Locale.ROOT, "%11d %14.1f %14.1f %12.1f %9.1f %22.2f %10.1f", r.concurrency(),
                    r.aggregateTps(), r.perStreamTps(), r.prefillTps(), r.ttftMs(), r.expertLoadsPerToken(), r.wallTps()));
            sb.append(r.prefixQueriedTokens() == 0 ? String.format(Locale.ROOT, " %11s", "-")
                    : String.format(Locale.ROOT, " %10.1f%%", 100.0 * r.prefixHitTokens() / r.prefixQueriedTokens()));
            ExpertCacheStats e = r.expertCache();
            if (e != null) {
                sb.append(String.format(Locale.ROOT, " %8.1f%% %13.3f %10.1f %11.1f %10.1f%%", 100 * e.total().hitRate(),
                        e.bytesPerToken() / 1e6, e.readBandwidth() / 1e6, e.total().waitNanos() / 1e6,
                        100 * e.total().prefetchAccuracy()));
            } else if (cache) {
                sb.append(String.format(Locale.ROOT, " %9s %13s %10s %11s %11s", "-", "-", "-", "-", "-"));
            }
            sb.append('\n');
        }
        return sb.toString();
    }

    /**
     * A JSON list of objects with concurrency, aggregate_tps, per_stream_tps, prefill_tps, ttft_ms,
     * expert_loads_per_token, steps, preemptions, wall_tps, expert_lookups, shared_prefix_tokens, prefix_hit_tokens,
     * prefix_queried_tokens (0 with prefix caching off) and expert_cache (null when resident,
     * else the round's hits, misses, hit_rate, bytes_read, bytes_per_token, read_bytes_per_second, io_wait_ms,
     * prefetch_issued, prefetch_useful, prefetch_accuracy, evictions, budget_bytes, slots).
     */
    public static String json(List<Result> results) {
        StringBuilder sb = new StringBuilder("[");
        for (int i = 0; i < results.size(); i++) {
            Result r = results.get(i);
            if (i > 0) sb.append(", ");
            sb.append("{\"concurrency\": ").append(r.concurrency())
                    .append(", \"prompt_tokens\": ").append(r.promptTokens())
                    .append(", \"gen_tokens\": ").append(r.genTokens())
                    .append(", \"aggregate_tps\": ").append(number(r.aggregateTps()))
                    .append(", \"per_stream_tps\": ").append(number(r.perStreamTps()))
                    .append(", \"prefill_tps\": ").append(number(r.prefillTps()))
                    .append(", \"ttft_ms\": ").append(number(r.ttftMs()))
                    .append(", \"expert_loads_per_token\": ").append(number(r.expertLoadsPerToken()))
                    .append(", \"steps\": ").append(r.steps())
                    .append(", \"preemptions\": ").append(r.preemptions())
                    .append(", \"wall_tps\": ").append(number(r.wallTps()))
                    .append(", \"expert_lookups\": ").append(r.expertLookups())
                    .append(", \"shared_prefix_tokens\": ").append(r.sharedPrefixTokens())
                    .append(", \"prefix_hit_tokens\": ").append(r.prefixHitTokens())
                    .append(", \"prefix_queried_tokens\": ").append(r.prefixQueriedTokens())
                    .append(", \"expert_cache\": ").append(expertCacheJson(r.expertCache()))
                    .append('}');
        }
        return sb.append(']').toString();
    }

    private static String expertCacheJson(ExpertCacheStats e) {
        if (e == null) return "null";
        ExpertCacheStats.Layer t = e.total();
        return "{\"hits\": " + t.hits() + ", \"misses\": " + t.misses() + ", \"hit_rate\": " + number(t.hitRate())
                + ", \"bytes_read\": " + t.bytesRead() + ", \"bytes_per_token\": " + number(e.bytesPerToken())
                + ", \"read_bytes_per_second\": " + number(e.readBandwidth()) + ", \"io_wait_ms\": " + number(t.waitNanos() / 1e6)
                + ", \"prefetch_issued\": " + t.prefetchIssued() + ", \"prefetch_useful\": " + t.prefetchUseful()
                + ", \"prefetch_accuracy\": " + number(t.prefetchAccuracy()) + ", \"evictions\": " + t.evictions()
                + ", \"budget_bytes\": " + e.budgetBytes() + ", \"slots\": " + e.slots() + "}";
    }

    private static String number(double v) {
        return Double.isFinite(v) ? String.format(Locale.ROOT, "%.3f", v) : "null";
    }
}
