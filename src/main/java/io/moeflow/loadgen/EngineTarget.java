package io.moeflow.loadgen;

import io.moeflow.engine.Detokenizer;
import io.moeflow.engine.SamplingParams;
import io.moeflow.experts.ExpertStoreConfig;
import io.moeflow.gguf.GgufFile;
import io.moeflow.kernels.WorkerPool;
import io.moeflow.model.DecoderModel;
import io.moeflow.model.Models;
import io.moeflow.scheduler.BatchScheduler;
import io.moeflow.scheduler.FinishReason;
import io.moeflow.scheduler.GenerationRequest;
import io.moeflow.scheduler.SchedulerConfig;
import io.moeflow.scheduler.TokenEvent;
import io.moeflow.tokenizer.Tokenizer;
import io.moeflow.tokenizer.Vocabulary;
import java.nio.file.Path;

/**
 * The engine alone, in this process: the same closed-loop requests as the HTTP and Kafka targets, submitted
 * straight to a {@link BatchScheduler} configured like the service, so "service ÷ engine" compares one workload
 * with and without the service around it (HTTP, Kafka, JSON, the broker).
 */
public final class EngineTarget implements LoadTarget {
    /** The service's defaults (MoeflowConfig.Engine): KV bytes, tokens per step, sequences, queue. */
    public static final SchedulerConfig SERVICE_DEFAULTS = new SchedulerConfig(268_435_456L, 512, 16, 64);

    private final WorkerPool pool;
    private final DecoderModel model;
    private final Tokenizer tokenizer;
    private final BatchScheduler scheduler;

    public EngineTarget(Path modelPath, int threads, ExpertStoreConfig experts, SchedulerConfig config) {
        pool = new WorkerPool(threads);
        GgufFile file = GgufFile.open(modelPath);
        try {
            tokenizer = Tokenizer.of(Vocabulary.fromGguf(file));
            model = Models.load(file, pool, experts);
        } catch (RuntimeException e) {
            file.close();
            pool.close();
            throw e;
        }
        scheduler = new BatchScheduler(model, Detokenizer.of(tokenizer), config);
    }

    @Override
    public String via() {
        return "engine";
    }

    @Override
    public RequestTrace send(String id, RequestSpec spec) {
        int[] prompt = tokenizer.encode(spec.prompt(), true, true);
        SamplingParams sampling = spec.temperature() == 0 ? SamplingParams.GREEDY
                : new SamplingParams((float) spec.temperature(), 0, 1f, 0f, id.hashCode());
        // ignore_eos as the HTTP and Kafka targets ask for it: every request generates maxTokens tokens
        GenerationRequest request = new GenerationRequest(id, prompt, sampling, spec.maxTokens(), null, null, true);
        long sent = System.nanoTime();
        long[] times = new long[spec.maxTokens()];
        int n = 0, tokens = 0, promptTokens = -1;
        try {
            for (TokenEvent e : scheduler.submit(request).events().subscribe().asIterable()) {
                if (e.finish() == FinishReason.ERROR) return RequestTrace.failed(sent, e.errorCode() + ": " + e.errorMessage());
                if (n == times.length) times = java.util.Arrays.copyOf(times, n * 2);
                times[n++] = System.nanoTime();
                if (e.usage() != null) {
                    tokens = e.usage().completionTokens();
                    promptTokens = e.usage().promptTokens();
                }
            }
        } catch (RuntimeException e) {
            return RequestTrace.failed(sent, e.getMessage() == null ? e.toString() : e.getMessage());
        }
        return new RequestTrace(sent, java.util.Arrays.copyOf(times, n), System.nanoTime(), tokens > 0 ? tokens : n,
                promptTokens, null);
    }

    @Override
    public void close() {
        scheduler.close();
        model.close();
        pool.close();
    }
}
