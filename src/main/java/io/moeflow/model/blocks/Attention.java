package io.moeflow.model.blocks;

import io.moeflow.kernels.QMatrix;
import io.moeflow.kernels.WorkerPool;
import io.moeflow.model.ForwardBatch;
import io.moeflow.model.KvCache;

/**
 * Grouped-query self-attention with a paged KV cache: q/k/v projections for the whole batch (plus optional
 * biases), optional RMSNorm of q and k (per head as in qwen3, or over the whole projection as in olmoe),
 * RoPE, then for every (token, head) causal attention over the token's own sequence (optionally a sliding
 * window and a per-head sink logit, gpt-oss; or chunks and a per-position query temperature, llama4), and the
 * output projection (plus optional bias). Query head
 * {@code h} reads kv head {@code h / (heads / kvHeads)}.
 */
public final class Attention implements AttentionBlock {
    /**
     * Where q/k RMSNorm weights apply: to each head ({@code [head_dim]}) or to the whole projection, before RoPE; or
     * to each head after RoPE (hunyuan-moe).
     */
    public enum NormScope { PER_HEAD, WHOLE, PER_HEAD_AFTER_ROPE }

    /**
     * The optional parts of an attention layer; null/0 means absent. Start from {@link #NONE} and add parts.
     *
     * @param window sliding window in positions (query {@code i} sees key {@code j} iff {@code 0 <= i - j < window}), 0 for none
     * @param sinks  per-head sink logits joining the softmax denominator
     * @param scales per-tensor factors of the q, k, v and output projections ({@code .scale} tensors), applied to the
     *               product before its bias as ggml does; {@link Scales#NONE} when absent
     * @param scoreScale the factor of q.k in the scores (granite's {@code attention.scale}); 0 for {@code 1/sqrt(head_dim)}
     * @param chunk  chunked attention in positions (llama4): query {@code i} sees key {@code j <= i} iff
     *               {@code j >= (i / chunk) * chunk}, llama.cpp's LLAMA_SWA_TYPE_CHUNKED; 0 for none
     * @param temperature per-position query factor (llama4's NoPE layers), {@link AttentionTemperature#NONE} for none
     */
    public record Options(float[] qBias, float[] kBias, float[] vBias, float[] outBias,
                          float[] qNorm, float[] kNorm, NormScope normScope, float[] sinks, int window, Scales scales, float scoreScale,
                          int chunk, AttentionTemperature temperature) {
        public static final Options NONE = new Options(null, null, null, null, null, null, NormScope.PER_HEAD, null, 0, Scales.NONE, 0f,
                0, AttentionTemperature.NONE);

        public Options {
            if (window > 0 && chunk > 0) throw new IllegalArgumentException("attention has both a sliding window and chunks");
        }

        public Options withBiases(float[] q, float[] k, float[] v, float[] out) {
            return new Options(q, k, v, out, qNorm, kNorm, normScope, sinks, window, scales, scoreScale, chunk, temperature);
        }

        public Options withQkNorm(float[] q, float[] k, NormScope scope) {
            return new Options(qBias, kBias, vBias, outBias, q, k, scope, sinks, window, scales, scoreScale, chunk, temperature);
        }

        public Options withSinks(float[] s) {
            return new Options(qBias, kBias, vBias, outBias, qNorm, kNorm, normScope, s, window, scales, scoreScale, chunk, temperature);
        }

        public Options withWindow(int w) {
            return new Options(qBias, kBias, vBias, outBias, qNorm, kNorm, normScope, sinks, w, scales, scoreScale, chunk, temperature);
        }

        public Options withScales(Scales s) {
            return new Options(qBias, kBias, vBias, outBias, qNorm, kNorm, normScope, sinks, window, s, scoreScale, chunk, temperature);
        }

        public Options withScoreScale(float s) {
            return new Options(qBias, kBias, vBias, outBias, qNorm, kNorm, normScope, sinks, window, scales, s, chunk, temperature);
        }

        public Options withChunk(int c) {
            return new Options(qBias, kBias, vBias, outBias, qNorm, kNorm, normScope, sinks, window, scales, scoreScale, c, temperature);
        }

        public Options withTemperature(AttentionTemperature t) {
            return new Options(qBias, kBias, vBias, outBias, qNorm, kNorm, normScope, sinks, window, scales, scoreScale, chunk, t);
        }
    }

    /** Per-tensor factors of the q, k, v and output projections (1 when a tensor has none). */
    public record Scales(float q, float k, float v, float out) {
        public static final Scales NONE = new Scales(1f, 1f, 1f, 1f);
    }

    private final QMatrix wq, wk, wv, wo;
    private final Options opt;
    private final int heads, kvHeads, headDim, valueDim;
    private final float eps, scale;
    private final Rope rope;
    private final AttentionKernel kernel = new AttentionKernel();
    private final HeadTask task = new HeadTask();

    public Attention(QMatrix wq, QMatrix wk, QMatrix wv, QMatrix wo, float[] qNorm, float[] kNorm,
                     int heads, int kvHeads, int headDim, int valueDim, float eps, Rope rope) {
        this(wq, wk, wv, wo, Options.NONE.withQkNorm(qNorm, kNorm, NormScope.PER_HEAD), heads, kvHeads, headDim, valueDim, eps, rope);
    }

    public Attention(QMatrix wq, QMatrix wk, QMatrix wv, QMatrix wo, Options options,
                     int heads, int kvHeads, int headDim, int valueDim, float eps, Rope rope) {
        this.wq = wq;
        this.wk = wk;
        this.wv = wv;
        this.wo = wo;
        this.opt = options;
        this.heads = heads;
        this.kvHeads = kvHeads;
        this.headDim = headDim;
        this.valueDim = valueDim;
        this.eps = eps;
        this.scale = options.scoreScale() != 0f ? options.scoreScale() : (float) (1.0 / Math.sqrt(headDim));
        this.rope = rope;
        if (heads % kvHeads != 0)
            throw new IllegalArgumentException("head count " + heads + " is not a multiple of the kv head count " + kvHeads);
        int qDim = heads * headDim, kDim = kvHeads * headDim, vDim = kvHeads * valueDim;
        check("q bias", options.qBias(), qDim);
        check("k bias", options.kBias(), kDim);
        check("v bias", options.vBias(), vDim);
        check("output bias", options.outBias(), wo.rows());
        boolean whole = options.normScope() == NormScope.WHOLE;
        check("q norm", options.qNorm(), whole ? qDim : headDim);
        check("k norm", options.kNorm(), whole ? kDim : headDim);
        check("attention sinks", options.sinks(), heads);
    }

    private static void check(String what, float[] v, int expected) {
        if (v != null && v.length != expected)
            throw new IllegalArgumentException(what + " has " + v.length + " values, expected " + expected);
    }

    /** Reads {@code ws.xn}, writes this layer's K/V into {@code kv} and the block output into {@code ws.out}. */
    @Override
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
        boolean whole = opt.normScope() == NormScope.WHOLE, afterRope = opt.normScope() == NormScope.PER_HEAD_AFTER_ROPE;
        Scales sc = opt.scales();
        for (int t = 0; t < n; t++) {
            scale(ws.q, t * qDim, qDim, sc.q());
            addBias(ws.q, t * qDim, opt.qBias());
            scale(ws.k, t * kDim, kDim, sc.k());
            addBias(ws.k, t * kDim, opt.kBias());
            scale(ws.v, t * vDim, vDim, sc.v());
            addBias(ws.v, t * vDim, opt.vBias());
            int pos = batch.positions[t];
            if (afterRope) {
                rope.apply(ws.q, t * qDim, heads, headDim, pos);
                rope.apply(ws.k, t * kDim, kvHeads, headDim, pos);
            }
            if (opt.qNorm() != null) RmsNorm.apply(ws.q, t * qDim, ws.q, t * qDim, whole ? 1 : heads, whole ? qDim : headDim, headDim, opt.qNorm(), eps);
            if (opt.kNorm() != null) RmsNorm.apply(ws.k, t * kDim, ws.k, t * kDim, whole ? 1 : kvHeads, whole ? kDim : headDim, headDim, opt.kNorm(), eps);
            if (!afterRope) {
                rope.apply(ws.q, t * qDim, heads, headDim, pos);
                rope.apply(ws.k, t * kDim, kvHeads, headDim, pos);
            }
            // llama.cpp multiplies the query itself (ggml_mul(Qcur, attn_scale)), not the score
            if (opt.temperature().enabled()) scale(ws.q, t * qDim, qDim, opt.temperature().factor(pos));
            float[] block = kv.block(batch.seqIds[t], pos);
            int o = kv.offset(layer, pos);
            System.arraycopy(ws.k, t * kDim, block, o, kDim);
            System.arraycopy(ws.v, t * vDim, block, o + kDim, vDim);
        }
        task.set(layer, batch, kv, ws, qDim, kDim);
        pool.run(n * heads, task);
        task.clear();
        pool.matmul(wo, ws.heads, heads * valueDim, n, ws.out, embd);
        for (int t = 0; t < n; t++) {
            scale(ws.out, t * embd, embd, sc.out());
            addBias(ws.out, t * embd, opt.outBias());
        }
    }

    static void addBias(float[] x, int off, float[] bias) {
        if (bias != null) io.moeflow.kernels.VectorMath.axpy(1f, bias, 0, x, off, bias.length);
    }

    /** {@code x[off .. off+n) *= s} (a projection's {@code .scale}). */
    static void scale(float[] x, int off, int n, float s) {
        if (s != 1f) for (int i = off; i < off + n; i++) x[i] *= s;
    }

    /** One (token, head) pair per chunk. */
    private final class HeadTask implements WorkerPool.Task {
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
            float sink = opt.sinks() == null ? Float.NaN : opt.sinks()[h];
            int pos = batch.positions[t];
            int first = opt.chunk() > 0 ? pos / opt.chunk() * opt.chunk() : opt.window() > 0 ? Math.max(0, pos - opt.window() + 1) : 0;
            kernel.attendFrom(ws.q, t * qDim + h * headDim, headDim, kv, layer, batch.seqIds[t], first, pos,
                    g * headDim, kDim + g * valueDim, valueDim, scale, sink, ws.heads, (t * heads + h) * valueDim);
        }
    }
}
