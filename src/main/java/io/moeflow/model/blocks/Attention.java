package io.moeflow.model.blocks;

import io.moeflow.kernels.QMatrix;
import io.moeflow.kernels.VectorMath;
import io.moeflow.kernels.WorkerPool;
import io.moeflow.model.ForwardBatch;
import io.moeflow.model.KvCache;

/**
 * Grouped-query self-attention with a paged KV cache: q/k/v projections for the whole batch, optional
 * per-head RMSNorm of q and k (qwen3), RoPE, then for every (token, head) causal attention over the token's
 * own sequence, and the output projection. Query head {@code h} reads kv head {@code h / (heads / kvHeads)}.
 */
public final class Attention {
    private final QMatrix wq, wk, wv, wo;
    private final float[] qNorm, kNorm;
    private final int heads, kvHeads, headDim, valueDim;
    private final float eps, scale;
    private final Rope rope;
    private final HeadTask task = new HeadTask();

    public Attention(QMatrix wq, QMatrix wk, QMatrix wv, QMatrix wo, float[] qNorm, float[] kNorm,
                     int heads, int kvHeads, int headDim, int valueDim, float eps, Rope rope) {
        this.wq = wq;
        this.wk = wk;
        this.wv = wv;
        this.wo = wo;
        this.qNorm = qNorm;
        this.kNorm = kNorm;
        this.heads = heads;
        this.kvHeads = kvHeads;
        this.headDim = headDim;
        this.valueDim = valueDim;
        this.eps = eps;
        this.scale = (float) (1.0 / Math.sqrt(headDim));
        this.rope = rope;
    }

    /** Reads {@code ws.xn}, writes this layer's K/V into {@code kv} and the block output into {@code ws.out}. */
    public void forward(int layer, ForwardBatch batch, KvCache kv, Workspace ws) {
        int n = batch.size;
        int qDim = heads * headDim, kDim = kvHeads * headDim, vDim = kvHeads * valueDim, embd = wq.cols();
        ws.q = Workspace.fit(ws.q, n * qDim);
        ws.k = Workspace.fit(ws.k, n * kDim);
        ws.v = Workspace.fit(ws.v, n * vDim);
        ws.heads = Workspace.fit(ws.heads, n * heads * valueDim);
        WorkerPool pool = ws.pool;
        pool.matmul(wq, ws.xn, embd, n, ws.q, qDim);
        pool.matmul(wk, ws.xn, embd, n, ws.k, kDim);
        pool.matmul(wv, ws.xn, embd, n, ws.v, vDim);
        for (int t = 0; t < n; t++) {
            if (qNorm != null) RmsNorm.apply(ws.q, t * qDim, ws.q, t * qDim, heads, headDim, headDim, qNorm, eps);
            if (kNorm != null) RmsNorm.apply(ws.k, t * kDim, ws.k, t * kDim, kvHeads, headDim, headDim, kNorm, eps);
            int pos = batch.positions[t];
            rope.apply(ws.q, t * qDim, heads, headDim, pos);
            rope.apply(ws.k, t * kDim, kvHeads, headDim, pos);
            float[] block = kv.block(batch.seqIds[t], pos);
            int o = kv.offset(layer, pos);
            System.arraycopy(ws.k, t * kDim, block, o, kDim);
            System.arraycopy(ws.v, t * vDim, block, o + kDim, vDim);
        }
        task.set(layer, batch, kv, ws, qDim, kDim);
        pool.run(n * heads, task);
        task.clear();
        pool.matmul(wo, ws.heads, heads * valueDim, n, ws.out, embd);
    }

    /** One (token, head) pair per chunk; score buffers per thread. */
    private final class HeadTask implements WorkerPool.Task {
        private final ThreadLocal<float[]> scores = ThreadLocal.withInitial(() -> new float[256]);
        int layer, qDim, kDim;
        ForwardBatch batch;
        KvCache kv;
        Workspace ws;

        void set(int layer, ForwardBatch batch, KvCache kv, Workspace ws, int qDim, int kDim) {
            this.layer = layer;
            this.batch = batch;
            this.kv = kv;
            this.ws = ws;
            this.qDim = qDim;
            this.kDim = kDim;
        }

        void clear() {
            batch = null;
            kv = null;
            ws = null;
        }

        @Override
        public void run(int chunk) {
            int t = chunk / heads, h = chunk % heads;
            int g = h / (heads / kvHeads);
            int pos = batch.positions[t], seq = batch.seqIds[t];
            float[] s = scores.get();
            if (s.length < pos + 1) {
                s = new float[Math.max(pos + 1, s.length * 2)];
                scores.set(s);
            }
            float[] q = ws.q;
            int qo = t * qDim + h * headDim;
            float max = Float.NEGATIVE_INFINITY;
            for (int j = 0; j <= pos; j++) {
                float[] b = kv.block(seq, j);
                float d = VectorMath.dot(q, qo, b, kv.offset(layer, j) + g * headDim, headDim) * scale;
                s[j] = d;
                if (d > max) max = d;
            }
            double sum = 0;
            for (int j = 0; j <= pos; j++) {
                float e = (float) Math.exp(s[j] - max);
                s[j] = e;
                sum += e;
            }
            float inv = (float) (1.0 / sum);
            float[] out = ws.heads;
            int oo = (t * heads + h) * valueDim;
            java.util.Arrays.fill(out, oo, oo + valueDim, 0f);
            for (int j = 0; j <= pos; j++) {
                float[] b = kv.block(seq, j);
                VectorMath.axpy(s[j] * inv, b, kv.offset(layer, j) + kDim + g * valueDim, out, oo, valueDim);
            }
        }
    }
}
