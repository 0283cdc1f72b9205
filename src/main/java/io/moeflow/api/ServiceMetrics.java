package io.moeflow.api;

import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.DistributionSummary;
import io.micrometer.core.instrument.FunctionCounter;
import io.micrometer.core.instrument.Gauge;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.Timer;
import io.moeflow.experts.ExpertCacheStats;
import io.moeflow.experts.ExpertStore;
import io.moeflow.model.DecoderModel;
import io.moeflow.scheduler.BatchScheduler;
import io.moeflow.scheduler.FinishReason;
import io.moeflow.scheduler.GenerationEngine;
import io.moeflow.scheduler.SchedulerStats;
import io.quarkus.runtime.Startup;
import jakarta.annotation.PostConstruct;
import jakarta.enterprise.context.ApplicationScoped;
import jakarta.inject.Inject;
import java.time.Duration;
import java.util.Locale;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLongArray;
import java.util.function.ToDoubleFunction;

/**
 * The service's Prometheus metrics (served at /q/metrics, listed in docs/METRICS.md). Request outcomes and the
 * latency histograms are recorded by {@link GenerationService} and the front ends as events reach clients; the
 * engine's gauges and totals are read from {@link BatchScheduler#stats()} and the expert store only when scraped;
 * the step-size histogram and the recent throughput come from the scheduler's step listener (once per step).
 */
@Startup // the gauges exist from start-up, before the first request
@ApplicationScoped
public class ServiceMetrics {
    /** Which front end a request came through. */
    public enum Api {
        HTTP, KAFKA;

        final String tag = name().toLowerCase(Locale.ROOT);
    }

    /** How a request ended: a finish reason, or refused before it was generated (invalid, queue full, not ready). */
    public enum Outcome {
        STOP, LENGTH, CANCELLED, ERROR, REJECTED;

        final String tag = name().toLowerCase(Locale.ROOT);

        /** The outcome of a generation whose last event had {@code finish}; null (no last event): cancelled. */
        static Outcome of(FinishReason finish) {
            if (finish == null) return CANCELLED;
            return switch (finish) {
                case STOP -> STOP;
                case LENGTH -> LENGTH;
                case CANCELLED -> CANCELLED;
                case ERROR -> ERROR;
            };
        }
    }

    /** Latency histogram range: a token of a tiny model takes about a millisecond, a long queue wait many seconds. */
    private static final Duration MIN_LATENCY = Duration.ofMillis(1), MAX_LATENCY = Duration.ofSeconds(30);
    private static final Duration[] LATENCY_SLOS = {
            Duration.ofMillis(1), Duration.ofMillis(2), Duration.ofMillis(5), Duration.ofMillis(10),
            Duration.ofMillis(20), Duration.ofMillis(50), Duration.ofMillis(100), Duration.ofMillis(200),
            Duration.ofMillis(500), Duration.ofSeconds(1), Duration.ofSeconds(2), Duration.ofSeconds(5),
            Duration.ofSeconds(10), Duration.ofSeconds(30)};
    /** Powers of two up to the largest max-batch-tokens one would configure. */
    private static final double[] BATCH_BUCKETS = {1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096, 8192};
    static final int RECENT_SECONDS = 5;

    @Inject
    MeterRegistry registry;
    @Inject
    GgufModelRuntime model;

    private final Counter[][] requests = new Counter[Api.values().length][Outcome.values().length];
    private final Timer[] timeToFirstToken = new Timer[Api.values().length];
    private final Timer[] interTokenLatency = new Timer[Api.values().length];
    private DistributionSummary stepBatch;
    private final RecentTokens recentTokens = new RecentTokens(RECENT_SECONDS);
    private volatile BatchScheduler listenedTo;

    @PostConstruct
    void register() {
        for (Api api : Api.values()) {
            for (Outcome outcome : Outcome.values()) {
                // every series exists from the start, so rate() and increase() see the first request
                requests[api.ordinal()][outcome.ordinal()] = Counter.builder("moeflow.requests")
                        .description("Generation requests by front end and outcome")
                        .tag("api", api.tag).tag("outcome", outcome.tag).register(registry);
            }
            timeToFirstToken[api.ordinal()] = latency("moeflow.time.to.first.token",
                    "From submission to the engine until the first generated token reaches the client's stream", api);
            interTokenLatency[api.ordinal()] = latency("moeflow.inter.token.latency",
                    "Between consecutive generated tokens of one request", api);
        }
        stepBatch = DistributionSummary.builder("moeflow.step.batch").baseUnit("tokens")
                .description("Tokens fed per forward step (decode tokens plus prompt chunks)")
                .serviceLevelObjectives(BATCH_BUCKETS).register(registry);
        schedulerGauge("moeflow.requests.waiting", "Requests queued for admission", SchedulerStats::waiting);
        schedulerGauge("moeflow.sequences.running", "Sequences admitted to the batch", SchedulerStats::running);
        schedulerGauge("moeflow.kv.blocks.free", "Free blocks of the KV cache pool", SchedulerStats::kvFreeBlocks);
        schedulerGauge("moeflow.kv.blocks.total", "Blocks of the KV cache pool", SchedulerStats::kvTotalBlocks);
        schedulerCounter("moeflow.generated.tokens", null, "Tokens generated (sampled)", SchedulerStats::generatedTokens);
        schedulerCounter("moeflow.prompt.tokens", null, "Prompt tokens fed, including recomputation after preemption",
                SchedulerStats::prefillTokens);
        schedulerCounter("moeflow.prefix.cache.queried.tokens", null, "Tokens of admitted sequences looked up in the prefix"
                + " cache", SchedulerStats::prefixQueriedTokens);
        schedulerCounter("moeflow.prefix.cache.hit.tokens", null, "Tokens whose KV was found in the prefix cache (not"
                + " prefilled)", SchedulerStats::prefixHitTokens);
        schedulerGauge("moeflow.kv.blocks.cached", "KV blocks registered in the prefix cache (in use or idle)",
                SchedulerStats::kvCachedBlocks);
        schedulerCounter("moeflow.preemptions", null, "Sequences evicted from the KV pool to be recomputed later",
                SchedulerStats::preemptions);
        Gauge.builder("moeflow.tokens.per.second", this, m -> m.recentTokens.perSecond(System.nanoTime()))
                .description("Tokens generated per second over the last " + RECENT_SECONDS + " whole seconds")
                .register(registry);
        Gauge.builder("moeflow.expert.cache.hit.ratio", this, ServiceMetrics::expertHitRatio)
                .description("Expert cache hits / lookups since start; NaN when experts are resident or before any lookup")
                .register(registry);
        expertCounter("moeflow.expert.cache.read", "bytes", "Expert bytes read from disk into the cache",
                s -> s.total().bytesRead());
        FunctionCounter.builder("moeflow.expert.cache.lookups", this, m -> m.expertTotal(s -> s.total().hits()))
                .description("Expert cache lookups by result").tag("result", "hit").register(registry);
        FunctionCounter.builder("moeflow.expert.cache.lookups", this, m -> m.expertTotal(s -> s.total().misses()))
                .description("Expert cache lookups by result").tag("result", "miss").register(registry);
    }

    private Timer latency(String name, String description, Api api) {
        return Timer.builder(name).description(description).tag("api", api.tag)
                .publishPercentileHistogram().minimumExpectedValue(MIN_LATENCY).maximumExpectedValue(MAX_LATENCY)
                .serviceLevelObjectives(LATENCY_SLOS).register(registry);
    }

    private void schedulerGauge(String name, String description, ToDoubleFunction<SchedulerStats> value) {
        Gauge.builder(name, this, m -> m.fromScheduler(value)).description(description).register(registry);
    }

    private void schedulerCounter(String name, String unit, String description, ToDoubleFunction<SchedulerStats> value) {
        FunctionCounter.builder(name, this, m -> m.fromScheduler(value)).baseUnit(unit).description(description)
                .register(registry);
    }

    private void expertCounter(String name, String unit, String description, ToDoubleFunction<ExpertCacheStats> value) {
        FunctionCounter.builder(name, this, m -> m.expertTotal(value)).baseUnit(unit).description(description)
                .register(registry);
    }

    /** A value of the scheduler's statistics as of this scrape; 0 until the model is loaded. */
    private double fromScheduler(ToDoubleFunction<SchedulerStats> value) {
        BatchScheduler scheduler = model.scheduler();
        return scheduler == null ? 0 : value.applyAsDouble(scheduler.stats());
    }

    private ExpertCacheStats expertStats() {
        DecoderModel loaded = model.model();
        ExpertStore store = loaded == null ? null : loaded.expertStore();
        return store == null ? null : store.stats();
    }

    /** A counter of the expert store; 0 when the experts are resident (nothing is read or looked up). */
    private double expertTotal(ToDoubleFunction<ExpertCacheStats> value) {
        ExpertCacheStats stats = expertStats();
        return stats == null ? 0 : value.applyAsDouble(stats);
    }

    private double expertHitRatio() {
        ExpertCacheStats stats = expertStats();
        if (stats == null) return Double.NaN;
        long lookups = stats.total().hits() + stats.total().misses();
        return lookups == 0 ? Double.NaN : (double) stats.total().hits() / lookups;
    }

    /**
     * Called with the engine in hand (the model is loaded), before anything is submitted to it: attaches the step
     * listener once, so the first request's steps are counted too.
     */
    void engineReady() {
        if (listenedTo != null) return;
        BatchScheduler scheduler = model.scheduler();
        if (scheduler == null) return;
        synchronized (this) {
            if (listenedTo == scheduler) return;
            scheduler.onStep(this::stepDone);
            listenedTo = scheduler;
        }
    }

    /** On the step-loop thread, once per step. */
    private void stepDone(int batchTokens, int generatedTokens) {
        stepBatch.record(batchTokens);
        if (generatedTokens > 0) recentTokens.add(System.nanoTime(), generatedTokens);
    }

    /** A request refused before generation: invalid, or the queue is full, or the model is not ready. */
    public void rejected(Api api) {
        count(api, Outcome.REJECTED);
    }

    /** A request that did not reach the engine because of {@code why}: a refusal, or else an internal error. */
    public void refused(Api api, Throwable why) {
        boolean refusal = why instanceof InvalidRequestException || why instanceof IllegalArgumentException
                || why instanceof ServiceUnavailableException
                || why instanceof GenerationEngine.QueueFullException;
        count(api, refusal ? Outcome.REJECTED : Outcome.ERROR);
    }

    void count(Api api, Outcome outcome) {
        requests[api.ordinal()][outcome.ordinal()].increment();
    }

    /** Starts timing one request; {@code submittedNanos} is when it was handed to the engine. */
    RequestClock clock(Api api, long submittedNanos) {
        return new RequestClock(api, submittedNanos);
    }

    /**
     * Times one request's tokens as they reach its stream. Events of one stream are delivered one at a time (and
     * in order), so plain fields suffice; a token costs one clock read and one histogram update.
     */
    final class RequestClock {
        private final Api api;
        private long previous;
        private boolean started;

        private RequestClock(Api api, long submittedNanos) {
            this.api = api;
            this.previous = submittedNanos;
        }

        void token() {
            long now = System.nanoTime();
            (started ? interTokenLatency : timeToFirstToken)[api.ordinal()].record(now - previous, TimeUnit.NANOSECONDS);
            started = true;
            previous = now;
        }

        /** The generation ended; {@code finish} is its last event's reason, null when it was cancelled before one. */
        void ended(FinishReason finish) {
            count(api, Outcome.of(finish));
        }
    }

    /**
     * Tokens generated per whole second of the last few: one slot per second, written by the step loop only, read
     * at scrapes. A slot is marked empty (Long.MIN_VALUE) while it is reset, so a reader never mixes two seconds.
     */
    static final class RecentTokens {
        private final int seconds;
        private final AtomicLongArray second, tokens;

        RecentTokens(int seconds) {
            this.seconds = seconds;
            // one slot more than the window: the current, incomplete second
            this.second = new AtomicLongArray(seconds + 1);
            this.tokens = new AtomicLongArray(seconds + 1);
            for (int i = 0; i <= seconds; i++) second.set(i, Long.MIN_VALUE);
        }

        void add(long nowNanos, int n) {
            long s = Math.floorDiv(nowNanos, 1_000_000_000L);
            int slot = (int) Math.floorMod(s, seconds + 1);
            if (second.get(slot) != s) {
                second.set(slot, Long.MIN_VALUE);
                tokens.set(slot, 0);
                second.set(slot, s);
            }
            tokens.addAndGet(slot, n);
        }

        /** Mean tokens per second over the {@code seconds} whole seconds before the current one. */
        double perSecond(long nowNanos) {
            long current = Math.floorDiv(nowNanos, 1_000_000_000L);
            long sum = 0;
            for (int i = 0; i <= seconds; i++) {
                long s = second.get(i);
                long n = tokens.get(i);
                if (s >= current - seconds && s < current && second.get(i) == s) sum += n;
            }
            return (double) sum / seconds;
        }
    }
}
