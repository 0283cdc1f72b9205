package io.moeflow.model.blocks;

import io.moeflow.kernels.QMatrix;
import io.moeflow.kernels.WorkerPool;
import io.moeflow.model.ForwardBatch;
import io.moeflow.model.KvCache;

/**
 * DeepSeek's multi-head latent attention in the absorbed form current GGUF conversions store
 * ({@code attn_k_b}, {@code attn_v_b}). The KV cache holds per token and layer only the normalized latent
 * {@code c} ({@code kv_lora_rank}) followed by the roped {@code k_pe} ({@code qk_rope}), shared by all heads:
 * <pre>
 *   q = W_q x                      or  W_q_b rmsnorm(W_q_a x) (q-LoRA)       split per head: q_nope, q_pe
 *   [c, k_pe] = W_kv_a_mqa x;  c = rmsnorm(c);  RoPE on q_pe and k_pe (decoupled)
 *   q_abs[h] = W_k_b[h] q_nope[h]                       (kv_lora_rank)
 *   p = softmax(scale * ([q_abs, q_pe][h] . [c, k_pe]_j)),  o[h] = W_v_b[h] (sum_j p_j c_j)
 *   out = W_o concat_h o[h]
 * </pre>
 */
public final class MlaAttention implements AttentionBlock {
    private final QMatrix wq, wqA, wqB, wkvA, wo;
    private final float[] qANorm, kvANorm;
    private final QMatrix[] wkB, wvB;
    private final int heads, nope, ropeDims, rank, valueDim;
    private final float eps, scale, outScale;
    private final AttentionTemperature temperature;
    private final Rope rope;
    private final AttentionKernel kernel = new AttentionKernel();
    private final AbsorbTask absorb = new AbsorbTask();
    private final HeadTask attend = new HeadTask();
    private final ValueTask expand = new ValueTask();

    /**
     * @param wq      full query projection, or null with q-LoRA
     * @param wqA     q-LoRA down projection ({@code attn_q_a}), null without q-LoRA; {@code qANorm} its norm, {@code wqB} its up projection
     * @param wkB     per head {@code [kv_lora_rank x qk_nope]} ({@code attn_k_b})
     * @param wvB     per head {@code [v_head x kv_lora_rank]} ({@code attn_v_b})
     * @param scale   score scale ({@code 1/sqrt(qk_nope + qk_rope)}, with YaRN's mscale^2 when scaled)
     * @param outScale    factor of the output projection ({@code attn_output.scale}), 1 when none
     * @param temperature query temperature per position (Mistral-Large-3), or {@link AttentionTemperature#NONE}
     */
    public MlaAttention(QMatrix wq, QMatrix wqA, float[] qANorm, QMatrix wqB, QMatrix wkvA, float[] kvANorm,
                        QMatrix[] wkB, QMatrix[] wvB, QMatrix wo, int nope, int ropeDims, float eps, float scale, Rope rope,
                        float outScale, AttentionTemperature temperature) {
        if ((wq == null) == (wqA == null))
            throw new IllegalArgumentException("MLA needs either attn_q or attn_q_a/attn_q_b");
        this.wq = wq;
        this.wqA = wqA;
        this.qANorm = qANorm;
        this.wqB = wqB;
        this.wkvA = wkvA;
        this.kvANorm = kvANorm;
        this.wkB = wkB;
        this.wvB = wvB;
        this.wo = wo;
        this.heads = wkB.length;
        this.nope = nope;
        this.ropeDims = ropeDims;
        this.rank = wkvA.rows() - ropeDims;
        this.valueDim = wvB[0].rows();
        this.eps = eps;
        this.scale = scale;
        this.outScale = outScale;
        this.temperature = temperature;
        this.rope = rope;
        QMatrix qOut = wq != null ? wq : wqB;
        if (qOut.rows() != heads * (nope + ropeDims))
            throw new IllegalArgumentException("MLA query projection has " + qOut.rows() + " outputs, expected " + heads + " heads x " + (nope + ropeDims));
        if (wvB.length != heads || wkB[0].cols() != nope || wkB[0].rows() != rank || wvB[0].cols() != rank)
            throw new IllegalArgumentException("MLA attn_k_b/attn_v_b shapes [" + wkB[0].cols() + "x" + wkB[0].rows() + "x" + heads
                    + "], [" + wvB[0].cols() + "x" + wvB[0].rows() + "x" + wvB.length + "] do not match qk_nope " + nope
                    + ", kv_lora_rank " + rank + ", " + heads + " heads");
        if (kvANorm.length != rank)
            throw new IllegalArgumentException("attn_kv_a_norm has " + kvANorm.length + " values, kv_lora_rank is " + rank);
        if (wo.cols() != heads * valueDim)
            throw new IllegalArgumentException("attn_output takes " + wo.cols() + " inputs, heads give " + heads * valueDim);
    }

    /** Floats the KV cache stores per token and layer: the latent and the rope part. */
    public int cacheDim() {
        return rank + ropeDims;
    }

    @Override
    public void forward(int layer, ForwardBatch batch, KvCache kv, Workspace ws) {
        int n = batch.size, embd = wkvA.cols(), dk = nope + ropeDims, qDim = heads * dk, row = rank + ropeDims;
        if (kv.kDim() != row || kv.vDim() != 0)
            throw new IllegalStateException("MLA needs a KV cache of " + row + " key floats and no value, got " + kv.kDim() + "/" + kv.vDim());
        WorkerPool pool = ws.pool;
        ws.q = Workspace.fit(ws.q, n * qDim);
        ws.kvLatent = Workspace.fit(ws.kvLatent, n * row);
        ws.qAbsorbed = Workspace.fit(ws.qAbsorbed, n * heads * row);
        ws.latentOut = Workspace.fit(ws.latentOut, n * heads * rank);
        ws.heads = Workspace.fit(ws.heads, n * heads * valueDim);
        if (wq != null) {
            pool.matmul(wq, ws.xn, embd, n, ws.q, qDim);
        } else {
            int qr = wqA.rows();
            ws.qLatent = Workspace.fit(ws.qLatent, n * qr);
            pool.matmul(wqA, ws.xn, embd, n, ws.qLatent, qr);
            RmsNorm.apply(ws.qLatent, 0, ws.qLatent, 0, n, qr, qr, qANorm, eps);
            pool.matmul(wqB, ws.qLatent, qr, n, ws.q, qDim);
        }
        pool.matmul(wkvA, ws.xn, embd, n, ws.kvLatent, row);
        for (int t = 0; t < n; t++) {
            int pos = batch.positions[t];
            rope.apply(ws.q, t * qDim + nope, heads, dk, pos);
            rope.apply(ws.kvLatent, t * row + rank, 1, ropeDims, pos);
            RmsNorm.apply(ws.kvLatent, t * row, ws.kvLatent, t * row, 1, rank, rank, kvANorm, eps);
            System.arraycopy(ws.kvLatent, t * row, kv.block(batch.seqIds[t], pos), kv.offset(layer, pos), row);
        }
        absorb.set(n, ws);
        pool.run(heads, absorb);
        attend.set(layer, batch, kv, ws);
        pool.run(n * heads, attend);
        expand.set(n, ws);
        pool.run(heads, expand);
        absorb.ws = attend.ws = expand.ws = null;
        attend.batch = null;
        attend.kv = null;
        pool.matmul(wo, ws.heads, heads * valueDim, n, ws.out, wo.rows());
        Attention.scale(ws.out, 0, n * wo.rows(), outScale);
    }

    /** Per-thread gather/scatter buffers for one head's vectors of the whole batch. */
    private static final ThreadLocal<float[][]> HEAD_BUFFERS = ThreadLocal.withInitial(() -> new float[][] {new float[0], new float[0]});

    private static float[][] headBuffers(int in, int out) {
        float[][] b = HEAD_BUFFERS.get();
        b[0] = Workspace.fit(b[0], in);
        b[1] = Workspace.fit(b[1], out);
        return b;
    }

    /** A task with one chunk per head over all {@code n} tokens of the step. */
    private abstract static class PerHeadTask implements WorkerPool.Task {
        int n;
        Workspace ws;

        void set(int n, Workspace ws) {
            this.n = n;
            this.ws = ws;
        }
    }

    /** Head h: q_abs = W_k_b[h] q_nope for all tokens, stored next to q_pe as [q_abs, q_pe] (the cache row layout). */
    private final class AbsorbTask extends PerHeadTask {
        @Override
        public void run(int h) {
            int dk = nope + ropeDims, qDim = heads * dk, row = rank + ropeDims;
            float[][] b = headBuffers(n * nope, n * rank);
            for (int t = 0; t < n; t++) System.arraycopy(ws.q, t * qDim + h * dk, b[0], t * nope, nope);
            Matrices.mul(wkB[h], 0, rank, b[0], n, b[1]);
            for (int t = 0; t < n; t++) {
                int o = (t * heads + h) * row;
                System.arraycopy(b[1], t * rank, ws.qAbsorbed, o, rank);
                System.arraycopy(ws.q, t * qDim + h * dk + nope, ws.qAbsorbed, o + rank, ropeDims);
            }
        }
    }

    /** One (token, head): softmax attention over the cached [c, k_pe] rows, output in latent space (sum p_j c_j). */
    private final class HeadTask implements WorkerPool.Task {
        int layer;
        ForwardBatch batch;
        KvCache kv;
        Workspace ws;

        void set(int layer, ForwardBatch batch, KvCache kv, Workspace ws) {
            this.layer = layer;
            this.batch = batch;
            this.kv = kv;
            this.ws = ws;
        }

        @Override
        public void run(int chunk) {
            int t = chunk / heads, h = chunk % heads, row = rank + ropeDims, pos = batch.positions[t];
            // the temperature multiplies the whole query (llama.cpp: Qcur * attn_scale), i.e. the score
            float s = temperature.enabled() ? scale * temperature.factor(pos) : scale;
            kernel.attend(ws.qAbsorbed, chunk * row, row, kv, layer, batch.seqIds[t], pos,
                    0, 0, rank, s, 0, Float.NaN, ws.latentOut, (t * heads + h) * rank);
        }
    }

    /** Head h: o = W_v_b[h] (latent output) for all tokens, into the concatenated heads. */
    private final class ValueTask extends PerHeadTask {
        @Override
        public void run(int h) {
            float[][] b = headBuffers(n * rank, n * valueDim);
            for (int t = 0; t < n; t++) System.arraycopy(ws.latentOut, (t * heads + h) * rank, b[0], t * rank, rank);
            Matrices.mul(wvB[h], 0, valueDim, b[0], n, b[1]);
            for (int t = 0; t < n; t++) System.arraycopy(b[1], t * valueDim, ws.heads, (t * heads + h) * valueDim, valueDim);
        }
    }
}
