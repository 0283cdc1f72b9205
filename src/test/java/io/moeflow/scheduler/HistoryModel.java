package io.moeflow.scheduler;

import io.moeflow.experts.ExpertReadException;
import io.moeflow.model.ForwardBatch;
import io.moeflow.model.KvCache;
import io.moeflow.model.Model;
import io.moeflow.model.ModelInfo;
import io.moeflow.model.StepStats;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Semaphore;
import java.util.function.IntPredicate;

/**
 * A deterministic stand-in for a real model whose logits depend on the sequence's whole history, read back
 * from its own KV cache: position {@code p} stores a running hash of tokens 0..p, so feeding a token into the
 * wrong sequence, at the wrong position, out of order or twice changes everything after it (crosstalk and
 * bookkeeping errors show up as different tokens). Also checks that each token's position is the next one of
 * its sequence, logs every step, can pause steps and can fail on a poison token.
 */
final class HistoryModel implements Model {
    static final int LAYERS = 2, EXPERTS = 8, HASH_MOD = 1_000_003;

    /** One forward step as the model saw it. */
    record Step(int[] seqIds, int[] positions, int[] tokens, boolean[] wantLogits) {
        int count(int seq) {
            int n = 0;
            for (int s : seqIds) if (s == seq) n++;
            return n;
        }

        long distinctSeqs() {
            return java.util.Arrays.stream(seqIds).distinct().count();
        }
    }

    private final ModelInfo info;
    private final List<Step> steps = new ArrayList<>();
    private volatile Semaphore gate;
    private volatile IntPredicate poison = t -> false;
    private volatile java.util.function.Function<Step, int[]> failRows = st -> null;
    private long reportedDistinctExperts;
    private volatile boolean kvIsFunctionOfPrefix = true;

    HistoryModel(int vocab, int contextLength) {
        info = new ModelInfo("test", "history", vocab, contextLength, LAYERS, 8, EXPERTS, 2);
    }

    @Override
    public ModelInfo info() {
        return info;
    }

    @Override
    public KvCache newKvCache(int blocks) {
        return new KvCache(LAYERS, 1, 1, blocks);
    }

    /** Bytes of KV memory for {@code blocks} blocks. */
    long bytesFor(int blocks) {
        return blocks * KvCache.blockBytes(LAYERS, 1, 1);
    }

    /** Makes the model say its KV is not a function of the token prefix (as a model with per-sequence state would). */
    void withPerSequenceState() {
        kvIsFunctionOfPrefix = false;
    }

    @Override
    public boolean kvIsFunctionOfPrefix() {
        return kvIsFunctionOfPrefix;
    }

    /** From now on each step waits for a permit from {@link #allow}. */
    void pause() {
        gate = new Semaphore(0);
    }

    void allow(int steps) {
        gate.release(steps);
    }

    void resume() {
        Semaphore g = gate;
        gate = null;
        if (g != null) g.release(1_000_000);
    }

    /** Steps containing a token for which {@code p} holds throw. */
    void failOn(IntPredicate p) {
        poison = p;
    }

    /**
     * Before every step, {@code rows} sees it; rows it returns (non-null) fail the step as an expert read fault of
     * the experts those rows were routed to ({@link ExpertReadException#withRows}), after scribbling over the KV
     * positions of the whole step, unmarked, as the layers before a failing MoE layer would have written them.
     */
    void failRows(java.util.function.Function<Step, int[]> rows) {
        failRows = rows;
    }

    synchronized List<Step> steps() {
        return List.copyOf(steps);
    }

    synchronized long reportedDistinctExperts() {
        return reportedDistinctExperts;
    }

    @Override
    public void forward(ForwardBatch batch, KvCache kv, float[] logits, StepStats stats) {
        Semaphore g = gate;
        if (g != null) g.acquireUninterruptibly();
        int n = batch.size;
        Step step = new Step(java.util.Arrays.copyOf(batch.seqIds, n), java.util.Arrays.copyOf(batch.positions, n),
                java.util.Arrays.copyOf(batch.tokens, n), java.util.Arrays.copyOf(batch.wantLogits, n));
        synchronized (this) {
            steps.add(step);
        }
        for (int i = 0; i < n; i++) {
            if (poison.test(batch.tokens[i])) throw new IllegalStateException("poison token " + batch.tokens[i]);
        }
        int[] failed = failRows.apply(step);
        if (failed != null) {
            for (int i = 0; i < n; i++) {
                float[] block = kv.block(batch.seqIds[i], batch.positions[i]);
                block[kv.offset(0, batch.positions[i])] = -1;
                block[kv.offset(1, batch.positions[i])] = -1;
            }
            var cause = new java.io.IOException("injected I/O error");
            throw new ExpertReadException(1, 5, java.nio.file.Path.of("history.gguf"), cause.getMessage(), cause).withRows(failed);
        }
        int vocab = info.vocabSize();
        int row = 0;
        boolean[][] expertUsed = new boolean[LAYERS][EXPERTS];
        for (int i = 0; i < n; i++) {
            int seq = batch.seqIds[i], pos = batch.positions[i], tok = batch.tokens[i];
            if (pos != kv.length(seq)) {
                throw new IllegalStateException("sequence " + seq + " got position " + pos + " but has " + kv.length(seq) + " stored");
            }
            long prev = pos == 0 ? 17 : (long) kv.block(seq, pos - 1)[kv.offset(0, pos - 1)];
            int hash = (int) ((prev * 31 + tok * 7L + pos) % HASH_MOD);
            float[] block = kv.block(seq, pos);
            block[kv.offset(0, pos)] = hash; // exact: hash < 2^24
            block[kv.offset(1, pos)] = tok;
            kv.markWritten(seq, pos);
            for (int l = 0; l < LAYERS; l++) expertUsed[l][(hash >> (3 * l)) % EXPERTS] = true;
            if (batch.wantLogits[i]) {
                int target = (hash + tok * 7 + pos) % vocab;
                int off = row * vocab;
                for (int v = 0; v < vocab; v++) {
                    logits[off + v] = (float) (4 * Math.cos(2 * Math.PI * (v - target) / vocab)) + ((hash * 31 + v * 17) % 7) / 7f;
                }
                row++;
            }
        }
        if (stats != null) {
            stats.tokens = n;
            for (int l = 0; l < LAYERS; l++) {
                int d = 0;
                for (boolean u : expertUsed[l]) if (u) d++;
                stats.distinctExperts[l] = d;
                stats.expertInvocations[l] = d;
                synchronized (this) {
                    reportedDistinctExperts += d;
                }
            }
        }
    }

    @Override
    public void close() {}
}
