package io.moeflow.cli;

import io.moeflow.engine.Sampler;
import io.moeflow.kernels.Kernels;
import io.moeflow.kernels.WorkerPool;
import io.moeflow.model.DecoderModel;
import io.moeflow.model.ForwardBatch;
import io.moeflow.model.KvCache;
import io.moeflow.model.Models;
import io.moeflow.scheduler.ConcurrencyBench;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Locale;
import java.util.SplittableRandom;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

/**
 * Prompt processing and generation speed like llama-bench's pp/tg: a prompt of random token ids in one
 * batch, then generation one token per step from an empty context; medians and spread over repeats.
 */
@Command(name = "bench", description = "Prompt (pp) and generation (tg) tokens/s, median and spread over repeats.")
final class BenchCommand implements Callable<Integer> {
    @Option(names = "--model", required = true)
    Path model;

    @Option(names = "--prompt-tokens", defaultValue = "64")
    int promptTokens;

    @Option(names = "--gen-tokens", defaultValue = "32")
    int genTokens;

    @Option(names = "--threads", defaultValue = "0", description = "Compute threads; 0 = available processors.")
    int threads;

    @Option(names = "--repeat", defaultValue = "5")
    int repeat;

    @Option(names = "--json", description = "Print one JSON object (pp_tps, tg_tps medians, ...); with --concurrency a list.")
    boolean json;

    @Option(names = "--concurrency", split = ",", description = "Run N requests at once through the batch scheduler, for each N listed (e.g. 1,2,4,8,16,32): aggregate and per-stream tokens/s, prefill tokens/s, time to first token, expert loads per token; with --expert-cache also each round's hit rate, bytes read per token, read bandwidth, I/O wait and prefetch accuracy.")
    int[] concurrency;

    @Option(names = "--shared-prefix-tokens", defaultValue = "0", description = "With --concurrency: every prompt begins with the same N tokens (a shared system prompt) before its own --prompt-tokens; a warm-up request with it runs first. Default: ${DEFAULT-VALUE}.")
    int sharedPrefixTokens;

    @Option(names = "--cold-prefix", description = "With --shared-prefix-tokens: each round's shared prefix is new to the prefix cache (the warm-up does not see it).")
    boolean coldPrefix;

    @Option(names = "--prefix-cache", defaultValue = "true", negatable = true, fallbackValue = "true",
            description = "With --concurrency: share the KV blocks of common prompt prefixes (moeflow.engine.prefix-cache). Default: ${DEFAULT-VALUE}.")
    boolean prefixCache;

    @Mixin
    ExpertCacheOptions expertCache = new ExpertCacheOptions();

    @Override
    public Integer call() {
        if (promptTokens < 1 || genTokens < 1 || repeat < 1)
            throw new IllegalArgumentException("--prompt-tokens, --gen-tokens and --repeat must be >= 1");
        if (sharedPrefixTokens < 0) throw new IllegalArgumentException("--shared-prefix-tokens must be >= 0");
        if (sharedPrefixTokens > 0 && concurrency == null)
            throw new IllegalArgumentException("--shared-prefix-tokens needs --concurrency (it shapes the scheduler's requests)");
        if (coldPrefix && sharedPrefixTokens == 0) throw new IllegalArgumentException("--cold-prefix needs --shared-prefix-tokens");
        int nThreads = CliSupport.threads(threads);
        System.err.printf(Locale.ROOT, "bench: loading %s (%d threads, %s)%n", model, nThreads, Kernels.describe());
        try (WorkerPool pool = new WorkerPool(nThreads); DecoderModel m = Models.load(model, pool, expertCache.config())) {
            if (concurrency != null) {
                var cfg = ConcurrencyBench.configFor(m, sharedPrefixTokens + promptTokens, genTokens, concurrency)
                        .withPrefixCache(prefixCache);
                var results = ConcurrencyBench.run(m, cfg, sharedPrefixTokens, coldPrefix, promptTokens, genTokens, concurrency, 42);
                System.out.print(json ? ConcurrencyBench.json(results) + "\n" : ConcurrencyBench.table(results));
                System.err.printf(Locale.ROOT, "bench: RSS %.1f MiB%n", CliSupport.rssBytes() / 1048576.0);
                return 0;
            }
            int vocab = m.info().vocabSize();
            int ctx = promptTokens + genTokens;
            if (ctx > m.info().contextLength())
                throw new IllegalArgumentException("prompt + generated tokens " + ctx + " exceed the context " + m.info().contextLength());
            KvCache kv = m.newKvCache(KvCache.blocksFor(Math.max(promptTokens, genTokens)));
            SplittableRandom rnd = new SplittableRandom(42);
            int[] prompt = rnd.ints(promptTokens, 0, vocab).toArray();
            ForwardBatch b = new ForwardBatch(promptTokens);
            float[] logits = new float[vocab];
            double[] pp = new double[repeat], tg = new double[repeat];
            for (int r = -1; r < repeat; r++) { // r = -1 warms up the JIT
                int seq = kv.newSequence();
                kv.ensureCapacity(seq, promptTokens);
                b.clear();
                for (int i = 0; i < promptTokens; i++) b.add(prompt[i], i, seq, i == promptTokens - 1);
                long t0 = System.nanoTime();
                m.forward(b, kv, logits, null);
                long t1 = System.nanoTime();
                kv.freeSequence(seq);

                seq = kv.newSequence();
                kv.ensureCapacity(seq, genTokens);
                int tok = prompt[0];
                long t2 = System.nanoTime();
                for (int i = 0; i < genTokens; i++) {
                    b.clear();
                    b.add(tok, i, seq, true);
                    m.forward(b, kv, logits, null);
                    tok = Sampler.argmax(logits, 0, vocab);
                }
                long t3 = System.nanoTime();
                kv.freeSequence(seq);
                if (r >= 0) {
                    pp[r] = promptTokens / ((t1 - t0) / 1e9);
                    tg[r] = genTokens / ((t3 - t2) / 1e9);
                    System.err.printf(Locale.ROOT, "bench: run %d/%d pp%d %.1f t/s, tg%d %.1f t/s%n", r + 1, repeat,
                            promptTokens, pp[r], genTokens, tg[r]);
                }
            }
            Stats ps = Stats.of(pp), ts = Stats.of(tg);
            if (m.expertStore() != null) System.err.println("bench: " + m.expertStore().stats().summary());
            System.err.printf(Locale.ROOT, "bench: RSS %.1f MiB%n", CliSupport.rssBytes() / 1048576.0);
            if (json) {
                System.out.printf(Locale.ROOT,
                        "{\"model\":\"%s\",\"threads\":%d,\"kernels\":\"%s\",\"prompt_tokens\":%d,\"gen_tokens\":%d,\"repeat\":%d,"
                                + "\"pp_tps\":%.2f,\"pp_min\":%.2f,\"pp_max\":%.2f,\"tg_tps\":%.2f,\"tg_min\":%.2f,\"tg_max\":%.2f}%n",
                        model.getFileName(), nThreads, Kernels.vectorEnabled() ? "vector" : "scalar", promptTokens, genTokens,
                        repeat, ps.median, ps.min, ps.max, ts.median, ts.min, ts.max);
            } else {
                System.out.printf(Locale.ROOT, "%-28s %8s %12s %20s%n", "model", "threads", "test", "t/s (median, min-max)");
                System.out.printf(Locale.ROOT, "%-28s %8d %12s %8.1f (%.1f-%.1f)%n", model.getFileName(), nThreads, "pp" + promptTokens, ps.median, ps.min, ps.max);
                System.out.printf(Locale.ROOT, "%-28s %8d %12s %8.1f (%.1f-%.1f)%n", model.getFileName(), nThreads, "tg" + genTokens, ts.median, ts.min, ts.max);
            }
        }
        return 0;
    }

    record Stats(double median, double min, double max) {
        static Stats of(double[] v) {
            double[] s = v.clone();
            Arrays.sort(s);
            int n = s.length;
            double med = n % 2 == 1 ? s[n / 2] : (s[n / 2 - 1] + s[n / 2]) / 2;
            return new Stats(med, s[0], s[n - 1]);
        }
    }
}
