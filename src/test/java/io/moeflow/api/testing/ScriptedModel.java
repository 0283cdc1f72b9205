package io.moeflow.api.testing;

import io.moeflow.model.ForwardBatch;
import io.moeflow.model.KvCache;
import io.moeflow.model.Model;
import io.moeflow.model.ModelInfo;
import io.moeflow.model.StepStats;
import java.util.Arrays;
import java.util.HashMap;
import java.util.Map;

/**
 * A test-only model whose logits follow a script of token ids: the n-th logits row a sequence asks for puts all the
 * weight on {@code script[n]} (100 against 0 for every other token, so any sampler at any temperature picks it), and
 * on the end-of-generation token once the script is over. So a generation through the real batch scheduler, stream
 * and detokenizer emits exactly the tokens a test wrote, such as a model family's tool-call markers. Where the
 * generation stands in the script is read from the tokens at the positions before (see {@link #generated}); when
 * constrained sampling makes it leave the script, it is steered back to the script's start. Concurrent requests
 * share the one script.
 */
public final class ScriptedModel implements Model {
    private final ModelInfo info;
    private final int endOfGeneration;
    private volatile int[] script = new int[0];
    /** Per KV sequence id, the token fed at each position. */
    private final Map<Integer, int[]> fed = new HashMap<>();

    public ScriptedModel(int vocabSize, int contextLength, int endOfGeneration) {
        this.info = new ModelInfo("scripted", "scripted", vocabSize, contextLength, 1, 1, 0, 0);
        this.endOfGeneration = endOfGeneration;
    }

    /** The tokens every sequence started from now on generates, then the end-of-generation token. */
    public void script(int[] tokens) {
        script = tokens.clone();
    }

    @Override
    public ModelInfo info() {
        return info;
    }

    @Override
    public KvCache newKvCache(int blocks) {
        return new KvCache(1, 1, 1, blocks);
    }

    @Override
    public synchronized void forward(ForwardBatch batch, KvCache kv, float[] logits, StepStats stats) {
        int row = 0;
        int vocab = info.vocabSize();
        int[] s = script;
        for (int i = 0; i < batch.size; i++) {
            int seq = batch.seqIds[i];
            int pos = batch.positions[i];
            int[] fed = this.fed.computeIfAbsent(seq, k -> new int[64]);
            if (pos >= fed.length) this.fed.put(seq, fed = Arrays.copyOf(fed, Math.max(pos + 1, fed.length * 2)));
            fed[pos] = batch.tokens[i];
            kv.markWritten(seq, pos);
            if (!batch.wantLogits[i]) continue;
            int next = generated(fed, pos, s) < s.length ? s[generated(fed, pos, s)] : endOfGeneration;
            Arrays.fill(logits, row * vocab, (row + 1) * vocab, 0f);
            logits[row * vocab + next] = 100f;
            row++;
        }
    }

    /**
     * How much of the script the sequence has generated: the longest start of the script that its tokens up to
     * {@code pos} end with (0 at the last prompt token). Read from the positions, not counted per step, so that a
     * prompt served from the prefix cache, or a KV id reused by a new request, starts the script over.
     */
    private static int generated(int[] fed, int pos, int[] script) {
        for (int k = Math.min(script.length, pos + 1); k > 0; k--) {
            boolean match = true;
            for (int j = 0; j < k && match; j++) match = fed[pos - k + 1 + j] == script[j];
            if (match) return k;
        }
        return 0;
    }

    @Override
    public void close() {}
}
