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
 * and detokenizer emits exactly the tokens a test wrote, such as a model family's tool-call markers. A sequence
 * starts over when its KV id is new or a token arrives at a position not after the last one (a new request reusing
 * the id). The script is read when a sequence starts, so concurrent requests must share it.
 */
public final class ScriptedModel implements Model {
    private final ModelInfo info;
    private final int endOfGeneration;
    private volatile int[] script = new int[0];
    private final Map<Integer, int[]> running = new HashMap<>();
    private final Map<Integer, Integer> step = new HashMap<>();
    private final Map<Integer, Integer> lastPosition = new HashMap<>();

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
        for (int i = 0; i < batch.size; i++) {
            int seq = batch.seqIds[i];
            int pos = batch.positions[i];
            Integer last = lastPosition.get(seq);
            if (last == null || pos <= last) {
                running.put(seq, script);
                step.put(seq, 0);
            }
            lastPosition.put(seq, pos);
            kv.markWritten(seq, pos);
            if (!batch.wantLogits[i]) continue;
            int n = step.merge(seq, 1, Integer::sum) - 1;
            int[] s = running.get(seq);
            int next = n < s.length ? s[n] : endOfGeneration;
            Arrays.fill(logits, row * vocab, (row + 1) * vocab, 0f);
            logits[row * vocab + next] = 100f;
            row++;
        }
    }

    @Override
    public void close() {}
}
