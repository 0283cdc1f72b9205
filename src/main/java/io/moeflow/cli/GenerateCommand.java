package io.moeflow.cli;

import io.moeflow.engine.Detokenizer;
import io.moeflow.engine.SamplingParams;
import io.moeflow.gguf.GgufFile;
import io.moeflow.kernels.Kernels;
import io.moeflow.kernels.WorkerPool;
import io.moeflow.model.DecoderModel;
import io.moeflow.model.KvCache;
import io.moeflow.model.Models;
import io.moeflow.scheduler.BatchScheduler;
import io.moeflow.scheduler.GenerationRequest;
import io.moeflow.scheduler.SchedulerConfig;
import io.moeflow.scheduler.TokenEvent;
import io.moeflow.tokenizer.Tokenizer;
import io.moeflow.tokenizer.Vocabulary;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

/** Generates text from a prompt, streaming it to stdout as it is produced; speed on stderr at the end. */
@Command(name = "generate", description = "Streams generated text to stdout; tokens/s on stderr at the end.")
final class GenerateCommand implements Callable<Integer> {
    @Option(names = "--model", defaultValue = "models/stories260K/stories260K.gguf", description = "GGUF model. Default: ${DEFAULT-VALUE}.")
    Path model;

    @Option(names = "--prompt", defaultValue = "Once upon a time", description = "Default: ${DEFAULT-VALUE}.")
    String prompt;

    @Option(names = "--max-tokens", defaultValue = "128", description = "Default: ${DEFAULT-VALUE} (the context length caps it).")
    int maxTokens;

    @Option(names = "--temperature", defaultValue = "" + SamplingParams.DEFAULT_TEMPERATURE,
            description = "0 = greedy. Default: ${DEFAULT-VALUE}, as the HTTP API and the playground.")
    float temperature;

    @Option(names = "--top-k", defaultValue = "" + SamplingParams.DEFAULT_TOP_K, description = "Default: ${DEFAULT-VALUE}; 0 disables.")
    int topK;

    @Option(names = "--top-p", defaultValue = "" + SamplingParams.DEFAULT_TOP_P, description = "Default: ${DEFAULT-VALUE}; 1 disables.")
    float topP;

    @Option(names = "--min-p", defaultValue = "" + SamplingParams.DEFAULT_MIN_P, description = "Default: ${DEFAULT-VALUE}; 0 disables.")
    float minP;

    @Option(names = "--seed", defaultValue = "-1", description = "Sampling seed; -1 picks one at random. Default: ${DEFAULT-VALUE}.")
    long seed;

    @Option(names = "--stop", description = "Stop string (repeatable).")
    List<String> stop;

    @Option(names = "--threads", defaultValue = "0", description = "Compute threads; 0 = available processors.")
    int threads;

    @Option(names = "--presence-penalty", defaultValue = "0", description = "-2..2, once per generated token (OpenAI's). Default: ${DEFAULT-VALUE}.")
    float presencePenalty;

    @Option(names = "--frequency-penalty", defaultValue = "0", description = "-2..2, times each generated token's count (OpenAI's). Default: ${DEFAULT-VALUE}.")
    float frequencyPenalty;

    @Option(names = "--repeat-penalty", defaultValue = "1", description = "llama.cpp's, over the last --repeat-last-n tokens; 1 disables. Default: ${DEFAULT-VALUE}.")
    float repeatPenalty;

    @Option(names = "--repeat-last-n", defaultValue = "" + SamplingParams.DEFAULT_REPEAT_LAST_N,
            description = "Window of --repeat-penalty, prompt included; -1 = all, 0 = off. Default: ${DEFAULT-VALUE}.")
    int repeatLastN;

    @Option(names = "--logit-bias", description = "TOKEN_ID=BIAS (-100..100) added to that token's logit (repeatable).")
    java.util.Map<Integer, Float> logitBias;

    @Mixin
    ExpertCacheOptions expertCache = new ExpertCacheOptions();

    @Override
    public Integer call() throws Exception {
        if (maxTokens < 1) throw new IllegalArgumentException("--max-tokens must be >= 1, got " + maxTokens);
        long s = seed == -1 ? System.nanoTime() : seed;
        SamplingParams sampling = new SamplingParams(temperature, topK, topP, minP, s)
                .withPenalties(presencePenalty, frequencyPenalty, repeatPenalty, repeatLastN)
                .withLogitBias(logitBias == null ? io.moeflow.engine.LogitBias.NONE : io.moeflow.engine.LogitBias.of(logitBias));
        int nThreads = CliSupport.threads(threads);
        PrintStream out = new PrintStream(new java.io.FileOutputStream(java.io.FileDescriptor.out), true, StandardCharsets.UTF_8);
        GgufFile f = GgufFile.open(model);
        try (WorkerPool pool = new WorkerPool(nThreads); DecoderModel m = Models.load(f, pool, expertCache.config())) {
            Tokenizer tok = Tokenizer.of(Vocabulary.fromGguf(f));
            if (sampling.logitBias().maxToken() >= tok.vocabSize()) {
                throw new IllegalArgumentException("--logit-bias names token " + sampling.logitBias().maxToken()
                        + ", outside the vocabulary (ids 0.." + (tok.vocabSize() - 1) + ")");
            }
            int[] ids = tok.encode(prompt, true, true);
            int ctx = m.info().contextLength();
            if (ids.length >= ctx)
                throw new IllegalArgumentException("the prompt has " + ids.length + " tokens, the context only " + ctx);
            int budget = Math.min(maxTokens, ctx - ids.length);
            long kvBytes = m.newKvCache(1).bytesPerToken() * KvCache.BLOCK * (KvCache.blocksFor(ids.length + budget) + 1);
            SchedulerConfig cfg = new SchedulerConfig(kvBytes, SchedulerConfig.DEFAULT_MAX_BATCH_TOKENS, 1, 1);
            out.print(prompt);
            try (BatchScheduler scheduler = new BatchScheduler(m, Detokenizer.of(tok), cfg)) {
                long t0 = System.nanoTime();
                long[] first = {0};
                TokenEvent last = scheduler.submit(new GenerationRequest("cli", ids, sampling, budget, stop, null, false))
                        .events()
                        .onItem().invoke(e -> {
                            if (first[0] == 0) first[0] = System.nanoTime();
                            if (e.text() != null) out.print(e.text());
                        })
                        .collect().last()
                        .await().indefinitely();
                long t1 = System.nanoTime();
                out.println();
                if (last != null && last.errorMessage() != null) throw new IllegalStateException(last.errorMessage());
                int n = last == null || last.usage() == null ? 0 : last.usage().completionTokens();
                double prefill = (first[0] - t0) / 1e9, gen = (t1 - first[0]) / 1e9;
                System.err.printf(Locale.ROOT, "%n[%s] prompt %d tokens in %.3f s (%.1f t/s); generated %d tokens, %.1f t/s after the first; finish: %s; %d threads, %s%n",
                        m.info().name(), ids.length, prefill, ids.length / Math.max(prefill, 1e-9), n,
                        n > 1 ? (n - 1) / Math.max(gen, 1e-9) : 0.0, last == null ? "?" : last.finish().wire(), nThreads, Kernels.describe());
            }
        }
        return 0;
    }
}
