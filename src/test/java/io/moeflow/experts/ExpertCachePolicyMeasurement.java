package io.moeflow.experts;

import io.moeflow.kernels.WorkerPool;
import io.moeflow.model.DecoderModel;
import io.moeflow.model.ForwardBatch;
import io.moeflow.model.KvCache;
import io.moeflow.model.Models;
import java.nio.file.Path;
import java.util.Locale;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;

/**
 * Not a test: the measurement behind docs/EXPERTS.md, run only when {@code -Dmoeflow.experts.measure=a.gguf,b.gguf}
 * names models. Decodes seeded random tokens (teacher forcing) through the budgeted store, one stream and 16
 * streams, after a warm-up, and prints hit rate, bytes read per token and prefetch accuracy per budget and policy.
 */
class ExpertCachePolicyMeasurement {
    static final int WARMUP_STEPS = 32, STEPS = 96;

    @Test
    void measure() {
        String models = System.getProperty("moeflow.experts.measure");
        Assumptions.assumeTrue(models != null && !models.isBlank(), "set -Dmoeflow.experts.measure=model.gguf,... to run");
        System.out.println("| model | streams | budget | policy | prefetch | hit rate | MB read / token | prefetch issued / useful |");
        System.out.println("|---|---|---|---|---|---|---|---|");
        try (WorkerPool pool = new WorkerPool(2)) {
            String only = System.getProperty("moeflow.experts.only");
            if (only != null) {
                String[] a = only.split(":");
                run(Path.of(models), pool, Integer.parseInt(a[0]), a[1], EvictionPolicy.parse(a[2]), Boolean.parseBoolean(a[3]));
                return;
            }
            for (String file : models.split(","))
                for (int streams : new int[] {1, 16})
                    for (String budget : new String[] {"10%", "25%", "50%"})
                        for (EvictionPolicy policy : EvictionPolicy.values())
                            for (boolean prefetch : new boolean[] {false, true})
                                if (!prefetch || policy == EvictionPolicy.LFU) run(Path.of(file), pool, streams, budget, policy, prefetch);
        }
    }

    private static void run(Path file, WorkerPool pool, int streams, String budget, EvictionPolicy policy, boolean prefetch) {
        var cfg = ExpertStoreConfig.budgeted(budget).withPolicy(policy).withPrefetch(prefetch);
        try (DecoderModel m = Models.load(file, pool, cfg)) {
            int vocab = m.info().vocabSize(), steps = WARMUP_STEPS + STEPS;
            KvCache kv = m.newKvCache(streams * KvCache.blocksFor(steps));
            int[] seq = new int[streams];
            for (int s = 0; s < streams; s++) {
                seq[s] = kv.newSequence();
                kv.ensureCapacity(seq[s], steps);
            }
            SplittableRandom rnd = new SplittableRandom(7);
            ForwardBatch b = new ForwardBatch(streams);
            float[] logits = new float[streams * vocab];
            ExpertStore store = m.expertStore();
            ExpertCacheStats warm = null;
            for (int step = 0; step < steps; step++) {
                if (step == WARMUP_STEPS) warm = store.stats();
                b.clear();
                for (int s = 0; s < streams; s++) b.add(rnd.nextInt(vocab), step, seq[s], true);
                m.forward(b, kv, logits, null);
            }
            ExpertCacheStats st = store.stats().since(warm);
            if (System.getProperty("moeflow.experts.only") != null) for (var l : st.layers()) System.out.println("| " + l);
            System.out.printf(Locale.ROOT, "| %s | %d | %s (%d slots) | %s | %s | %.1f %% | %.2f | %d / %d |%n", file.getFileName(), streams,
                    budget, st.slots(), policy, prefetch ? "on" : "off", 100 * st.total().hitRate(), st.bytesPerToken() / 1e6,
                    st.total().prefetchIssued(), st.total().prefetchUseful());
        }
    }
}
