package io.moeflow.model.blocks;

import io.moeflow.experts.ExpertWeights;
import io.moeflow.kernels.Formats;
import io.moeflow.kernels.Kernels;
import io.moeflow.kernels.QMatrix;
import io.moeflow.kernels.VectorMath;
import io.moeflow.kernels.WorkerPool;
import io.moeflow.model.StepStats;
import java.util.Arrays;

/**
 * Mixture-of-experts SwiGLU FFN with expert grouping: all tokens of the step are routed first, then every
 * selected expert runs ONCE over the group of tokens routed to it (matrix x several vectors: its weights are
 * read once per step, not once per token), and the weighted outputs are summed back per token in selection
 * order. Work is split over the pool by (expert, row chunk), so both cores stay busy for 1 token or 200.
 */
public final class MoeFfn implements FeedForward {
    /** How router scores become probabilities. */
    public enum Gating { SOFTMAX, SIGMOID }

    private final QMatrix router;
    private ExpertWeights experts;
    private final int nExpert, nUsed, ffnLength;
    private final Gating gating;
    private final boolean normalize;
    private final float weightScale;
    private final FeedForward shared;
    private final ExpertTask task = new ExpertTask();

    public MoeFfn(QMatrix router, ExpertWeights experts, int nUsed, Gating gating, boolean normalize,
                  float weightScale, FeedForward shared) {
        this.router = router;
        this.experts = experts;
        this.nExpert = experts.count();
        this.nUsed = nUsed;
        this.ffnLength = experts.gate(0).rows(); // read once: a budgeted store holds expert 0 only while acquired
        this.gating = gating;
        this.normalize = normalize;
        this.weightScale = weightScale;
        this.shared = shared;
        if (router.rows() != nExpert)
            throw new IllegalArgumentException("router has " + router.rows() + " outputs for " + nExpert + " experts");
    }

    public QMatrix router() { return router; }

    public ExpertWeights experts() { return experts; }

    public int expertsUsed() { return nUsed; }

    /** Serves the routed experts from {@code e} (a RAM-budgeted store's view of the same tensors) from now on. */
    public void useExperts(ExpertWeights e) {
        if (e.count() != nExpert) throw new IllegalArgumentException("expert store has " + e.count() + " experts, the layer " + nExpert);
        this.experts = e;
    }

    @Override
    public void forward(int layer, int n, Workspace ws, StepStats stats) {
        int embd = router.cols();
        int ffn = ffnLength;
        MoeScratch m = ws.moe(nExpert, n * nUsed);
        ws.routerLogits = Workspace.fit(ws.routerLogits, n * nExpert);
        ws.pool.matmul(router, ws.xn, embd, n, ws.routerLogits, nExpert);

        // Route every token: experts best first, their weights.
        Arrays.fill(m.count, 0, nExpert, 0);
        float[] probs = m.probs;
        for (int t = 0; t < n; t++) {
            route(ws.routerLogits, t * nExpert, probs, m.selected, m.weights, t * nUsed);
            for (int i = 0; i < nUsed; i++) m.slot[t * nUsed + i] = m.count[m.selected[t * nUsed + i]]++;
            if (stats != null && stats.routing != null) stats.routing.routed(layer, t, m.selected, t * nUsed, nUsed);
        }

        // Gather each expert's group of input rows.
        int active = 0;
        for (int e = 0; e < nExpert; e++) {
            int c = m.count[e];
            if (c == 0) continue;
            m.in[e] = Workspace.fit(m.in[e], c * embd);
            m.gate[e] = Workspace.fit(m.gate[e], c * ffn);
            m.up[e] = Workspace.fit(m.up[e], c * ffn);
            m.out[e] = Workspace.fit(m.out[e], c * embd);
            m.active[active++] = e;
        }
        for (int t = 0; t < n; t++)
            for (int i = 0; i < nUsed; i++) {
                int e = m.selected[t * nUsed + i];
                System.arraycopy(ws.xn, t * embd, m.in[e], m.slot[t * nUsed + i] * embd, embd);
            }

        // Gate and up of every active expert over its group, then down; in waves of what the expert store can
        // hold at once (one wave unless a RAM-budgeted store is smaller than the step's active set).
        int wave = Math.max(1, Math.min(active, experts.maxAcquired()));
        for (int w0 = 0; w0 < active; w0 += wave) {
            int w = Math.min(wave, active - w0);
            experts.acquire(m.active, w0, w);
            try {
                task.set(m, w0, w, ffn, embd, ws.pool.threads(), true);
                ws.pool.run(task.chunks, task);
                for (int a = w0; a < w0 + w; a++) {
                    int e = m.active[a];
                    SwiGlu.silu(m.gate[e], m.up[e], m.count[e] * ffn);
                }
                task.set(m, w0, w, embd, ffn, ws.pool.threads(), false);
                ws.pool.run(task.chunks, task);
            } finally {
                task.m = null;
                experts.release(m.active, w0, w);
            }
        }

        if (stats != null) {
            stats.distinctExperts[layer] += active;
            stats.expertInvocations[layer] += task.invocations.getAndSet(0);
            stats.expertBytes += active * experts.bytesPerExpert();
        }

        // Weighted sum per token, in selection order (independent of the batch's composition).
        if (shared != null) shared.forward(layer, n, ws, stats);
        else Arrays.fill(ws.out, 0, n * embd, 0f);
        for (int t = 0; t < n; t++)
            for (int i = 0; i < nUsed; i++) {
                int e = m.selected[t * nUsed + i];
                VectorMath.axpy(m.weights[t * nUsed + i], m.out[e], m.slot[t * nUsed + i] * embd, ws.out, t * embd, embd);
            }
    }

    /** Router probabilities for one token, top-k (ties to the lower id), optional renormalisation and scale. */
    private void route(float[] logits, int lo, float[] probs, int[] sel, float[] w, int so) {
        if (gating == Gating.SOFTMAX) {
            float max = Float.NEGATIVE_INFINITY;
            for (int e = 0; e < nExpert; e++) max = Math.max(max, logits[lo + e]);
            double sum = 0;
            for (int e = 0; e < nExpert; e++) {
                float v = (float) Math.exp(logits[lo + e] - max);
                probs[e] = v;
                sum += v;
            }
            float inv = (float) (1.0 / sum);
            for (int e = 0; e < nExpert; e++) probs[e] *= inv;
        } else {
            for (int e = 0; e < nExpert; e++) probs[e] = (float) (1.0 / (1.0 + Math.exp(-logits[lo + e])));
        }
        for (int i = 0; i < nUsed; i++) {
            int best = -1;
            for (int e = 0; e < nExpert; e++) {
                if (best >= 0 && !(probs[e] > probs[best])) continue;
                boolean taken = false;
                for (int j = 0; j < i; j++) if (sel[so + j] == e) { taken = true; break; }
                if (!taken) best = e;
            }
            sel[so + i] = best;
            w[so + i] = probs[best];
        }
        if (normalize) {
            float sum = 0;
            for (int i = 0; i < nUsed; i++) sum += w[so + i];
            for (int i = 0; i < nUsed; i++) w[so + i] /= sum;
        }
        if (weightScale != 1f) for (int i = 0; i < nUsed; i++) w[so + i] *= weightScale;
    }

    /** Per-step routing state, shared by all MoE layers through the workspace. */
    public static final class MoeScratch {
        int[] count = new int[0], active = new int[0], selected = new int[0], slot = new int[0];
        float[] weights = new float[0], probs = new float[0];
        float[][] in = new float[0][], gate = new float[0][], up = new float[0][], out = new float[0][];

        void ensure(int nExpert, int slots) {
            if (count.length < nExpert) {
                count = new int[nExpert];
                active = new int[nExpert];
                probs = new float[nExpert];
                in = grow(in, nExpert);
                gate = grow(gate, nExpert);
                up = grow(up, nExpert);
                out = grow(out, nExpert);
            }
            selected = Workspace.fit(selected, slots);
            slot = Workspace.fit(slot, slots);
            weights = Workspace.fit(weights, slots);
        }

        private static float[][] grow(float[][] a, int n) {
            float[][] b = Arrays.copyOf(a, n);
            for (int i = a.length; i < n; i++) b[i] = new float[0];
            return b;
        }
    }

    /** Chunks of (active expert, row range); gate+up in the first pass, down in the second. */
    private final class ExpertTask implements WorkerPool.Task {
        MoeScratch m;
        boolean first;
        int firstActive, rows, cols, chunksPerExpert, rowsPerChunk, chunks;
        final java.util.concurrent.atomic.AtomicInteger invocations = new java.util.concurrent.atomic.AtomicInteger();

        void set(MoeScratch m, int firstActive, int active, int rows, int cols, int threads, boolean first) {
            this.m = m;
            this.firstActive = firstActive;
            this.first = first;
            this.rows = rows;
            this.cols = cols;
            // Aim for several chunks per thread in total; at least 16 rows per chunk.
            int want = Math.max(1, (threads * 4 + active - 1) / active);
            int rpc = Math.max(16, (rows + want - 1) / want);
            rpc = (rpc + 3) & ~3;
            rowsPerChunk = rpc;
            chunksPerExpert = (rows + rpc - 1) / rpc;
            chunks = active * chunksPerExpert;
        }

        @Override
        public void run(int chunk) {
            int e = m.active[firstActive + chunk / chunksPerExpert];
            int r0 = (chunk % chunksPerExpert) * rowsPerChunk, r1 = Math.min(rows, r0 + rowsPerChunk);
            int c = m.count[e];
            if (first) {
                if (r0 == 0) invocations.incrementAndGet();
                mul(experts.gate(e), r0, r1, m.in[e], c, m.gate[e]);
                mul(experts.up(e), r0, r1, m.in[e], c, m.up[e]);
            } else {
                mul(experts.down(e), r0, r1, m.gate[e], c, m.out[e]);
            }
        }

        private void mul(QMatrix w, int r0, int r1, float[] x, int nVec, float[] out) {
            Kernels.matmul(Formats.of(w.type()), w, r0, r1, x, w.cols(), nVec, out, w.rows());
        }
    }
}
