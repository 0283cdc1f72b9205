package io.moeflow.api.http;

import com.fasterxml.jackson.databind.node.ObjectNode;
import io.moeflow.api.GenerationService;
import io.moeflow.api.GgufModelRuntime;
import io.moeflow.api.ModelRuntime;
import io.moeflow.api.RequestParser;
import io.moeflow.experts.ExpertCacheStats;
import io.moeflow.experts.ExpertStore;
import io.moeflow.scheduler.BatchScheduler;
import io.moeflow.scheduler.SchedulerStats;
import io.quarkus.runtime.ShutdownEvent;
import io.quarkus.runtime.StartupEvent;
import io.vertx.core.Vertx;
import jakarta.enterprise.context.ApplicationScoped;
import jakarta.enterprise.event.Observes;
import jakarta.inject.Inject;
import java.util.Locale;

/**
 * The figures of GET /v1/stats (documented in docs/CONFIGURATION.md, "Live figures"). Throughput and batch sizes
 * come from the scheduler's running totals, sampled by a Vert.x timer every {@link #SAMPLE_MILLIS} ms and on each
 * request; the window of {@link #WINDOW_NANOS} is what the playground page shows as "now".
 */
@ApplicationScoped
public class LiveStats {
    static final long SAMPLE_MILLIS = 500;
    static final long WINDOW_NANOS = 5_000_000_000L;
    /** 64 samples at least 100 ms apart cover more than the 5 s window however often /v1/stats is called. */
    private final StatsWindow window = new StatsWindow(64, 100_000_000L);

    @Inject
    ModelRuntime runtime;
    @Inject
    GgufModelRuntime loaded;
    @Inject
    GenerationService service;
    @Inject
    Vertx vertx;

    private long timer = -1;

    void onStart(@Observes StartupEvent event) {
        timer = vertx.setPeriodic(SAMPLE_MILLIS, id -> sample());
    }

    void onStop(@Observes ShutdownEvent event) {
        if (timer >= 0) vertx.cancelTimer(timer);
    }

    /** The scheduler's totals now, also kept as a sample; null until the model is loaded. */
    private SchedulerStats sample() {
        // state READY is written after the scheduler and model: reading it first makes them visible
        if (runtime.state() != ModelRuntime.State.READY) return null;
        BatchScheduler scheduler = loaded.scheduler();
        if (scheduler == null) return null;
        SchedulerStats s = scheduler.stats();
        window.add(new StatsWindow.Sample(System.nanoTime(), s.steps(), s.prefillTokens() + s.decodeTokens(),
                s.generatedTokens()));
        return s;
    }

    /** The body of GET /v1/stats. May wait briefly for the expert store's lock: call it off the event loop. */
    ObjectNode snapshot() {
        SchedulerStats scheduler = sample();
        StatsWindow.Figures figures = scheduler == null ? null : window.figures(WINDOW_NANOS);
        ExpertStore store = scheduler == null || loaded.model() == null ? null : loaded.model().expertStore();
        return json(runtime.modelName(), state(), scheduler, figures, store == null ? null : store.stats());
    }

    /** The window of GET /v1/stats/experts when the request names none. */
    static final int EXPERT_WINDOW_SECONDS = 10;

    /**
     * The body of GET /v1/stats/experts: tokens routed to each expert of each layer over the last {@code seconds},
     * and (budgeted store) the experts held in memory now. Takes the expert store's lock: off the event loop.
     */
    ObjectNode experts(int seconds) {
        ObjectNode root = RequestParser.JSON.createObjectNode();
        root.put("object", "moeflow.expert_stats");
        root.put("model", runtime.modelName());
        root.put("state", state());
        root.put("window_seconds", seconds);
        BatchScheduler scheduler = runtime.state() == ModelRuntime.State.READY ? loaded.scheduler() : null;
        if (scheduler == null) {
            for (String field : new String[] {"layers", "experts", "counts", "expert_mode", "resident"}) root.putNull(field);
            return root;
        }
        long[][] counts = scheduler.expertActivity(seconds);
        ExpertStore store = loaded.model() == null ? null : loaded.model().expertStore();
        root.put("layers", counts.length);
        root.put("experts", scheduler.modelInfo().expertCount());
        var rows = root.putArray("counts");
        for (long[] row : counts) {
            if (row == null) {
                rows.addNull();
            } else {
                var r = rows.addArray();
                for (long c : row) r.add(c);
            }
        }
        root.put("expert_mode", store == null ? "resident" : "budgeted");
        if (store == null) {
            root.putNull("resident");
        } else {
            int[][] resident = store.residentExperts();
            var layers = root.putArray("resident");
            for (int l = 0; l < counts.length; l++) {
                int[] row = l < resident.length ? resident[l] : null;
                if (row == null) {
                    layers.addNull();
                } else {
                    var r = layers.addArray();
                    for (int e : row) r.add(e);
                }
            }
        }
        return root;
    }

    private String state() {
        if (service.draining()) return "draining";
        return runtime.state().name().toLowerCase(Locale.ROOT);
    }

    /** The response JSON; figures that do not exist yet (model loading, no interval, resident experts) are null. */
    static ObjectNode json(String model, String state, SchedulerStats s, StatsWindow.Figures f, ExpertCacheStats experts) {
        ObjectNode root = RequestParser.JSON.createObjectNode();
        root.put("object", "moeflow.stats");
        root.put("model", model);
        root.put("state", state);
        if (s == null) {
            for (String field : new String[] {"running", "waiting", "last_batch_size", "mean_batch_size",
                    "tokens_per_second", "window_seconds", "generated_tokens", "kv_free_blocks", "kv_total_blocks",
                    "kv_cached_blocks", "prefix_cache_queried_tokens", "prefix_cache_hit_tokens", "prefix_cache_hit_rate"}) {
                root.putNull(field);
            }
        } else {
            root.put("running", s.running());
            root.put("waiting", s.waiting());
            root.put("last_batch_size", f.lastBatch());
            root.put("mean_batch_size", f.meanBatch());
            root.put("tokens_per_second", f.tokensPerSecond());
            root.put("window_seconds", f.seconds());
            root.put("generated_tokens", s.generatedTokens());
            root.put("kv_free_blocks", s.kvFreeBlocks());
            root.put("kv_total_blocks", s.kvTotalBlocks());
            root.put("kv_cached_blocks", s.kvCachedBlocks());
            root.put("prefix_cache_queried_tokens", s.prefixQueriedTokens());
            root.put("prefix_cache_hit_tokens", s.prefixHitTokens());
            if (s.prefixQueriedTokens() == 0) root.putNull("prefix_cache_hit_rate");
            else root.put("prefix_cache_hit_rate", s.prefixHitRate());
        }
        if (experts == null) {
            root.putNull("expert_cache");
        } else {
            ObjectNode cache = root.putObject("expert_cache");
            cache.put("hit_rate", experts.total().hitRate());
            cache.put("hits", experts.total().hits());
            cache.put("misses", experts.total().misses());
            cache.put("bytes_read", experts.total().bytesRead());
            cache.put("budget_bytes", experts.budgetBytes());
            cache.put("slots", experts.slots());
            cache.put("used_slots", experts.usedSlots());
        }
        return root;
    }
}
