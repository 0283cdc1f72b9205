package io.moeflow.model.blocks;

import io.moeflow.experts.ExpertReadException;
import io.moeflow.experts.ExpertWeights;
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
 *
 * <p>Routing follows llama.cpp's build_moe_ffn: router logits (+ optional router bias) become probabilities
 * by the {@link Gating}; experts are selected on those probabilities plus an optional selection bias
 * ({@code exp_probs_b}, DeepSeek-V3), optionally only within the best expert groups (group score = sum of its
 * two best selection scores); the chosen experts' unbiased probabilities are the weights, optionally
 * renormalised (sum clamped to >= 2^-14) and scaled. Experts may carry biases and use gpt-oss's clamped SwiGLU.
 */
public final class MoeFfn implements FeedForward {
    /** How router scores become probabilities: softmax over all experts, sigmoid, (gpt-oss) raw logits for
     *  selection and a softmax over the selected ones for the weights, or {@code sqrt(softplus(x))} (ggml's softplus:
     *  {@code x} above 20, else {@code log(1 + exp(x))}). */
    public enum Gating { SOFTMAX, SIGMOID, SOFTMAX_SELECTED, SQRT_SOFTPLUS }

    /** The expert's gated activation: {@code silu(g) * u}, or gpt-oss's clamped variant
     *  {@code min(g,7) * sigmoid(1.702 min(g,7)) * (clamp(u,-7,7) + 1)}. */
    public enum Activation { SILU, SWIGLU_OAI }

    /**
     * Routing and activation options; start from {@link #of} and add parts. Biases are null when absent.
     * {@code weightBeforeFfn}: each routed expert's weight multiplies its input row and its output is summed unweighted
     * (llama.cpp's {@code weight_before_ffn}, llama4 only); else the weight multiplies the output.
     */
    public record Options(Gating gating, boolean normalize, float weightScale, float[] routerBias,
                          float[] selectionBias, int groups, int groupsUsed, Activation activation, boolean weightBeforeFfn) {
        public static Options of(Gating gating, boolean normalize, float weightScale) {
            return new Options(gating, normalize, weightScale, null, null, 0, 0, Activation.SILU, false);
        }

        public Options withRouterBias(float[] b) {
            return new Options(gating, normalize, weightScale, b, selectionBias, groups, groupsUsed, activation, weightBeforeFfn);
        }

        public Options withSelectionBias(float[] b) {
            return new Options(gating, normalize, weightScale, routerBias, b, groups, groupsUsed, activation, weightBeforeFfn);
        }

        /** Group-limited selection: experts in {@code groups} groups of consecutive ids, only the best {@code used} groups eligible. */
        public Options withGroups(int groups, int used) {
            return new Options(gating, normalize, weightScale, routerBias, selectionBias, groups, used, activation, weightBeforeFfn);
        }

        public Options withActivation(Activation a) {
            return new Options(gating, normalize, weightScale, routerBias, selectionBias, groups, groupsUsed, a, weightBeforeFfn);
        }

        /** The routing weight applied to the expert's input instead of its output (llama4). */
        public Options withWeightBeforeFfn() {
            return new Options(gating, normalize, weightScale, routerBias, selectionBias, groups, groupsUsed, activation, true);
        }
    }

    static final float OAI_ALPHA = 1.702f, OAI_LIMIT = 7f;
    /** llama.cpp clamps the weight sum before renormalising (2^-14, the smallest normal half). */
    static final float MIN_WEIGHT_SUM = 6.103515625e-5f;

    private final QMatrix router;
    private ExpertWeights experts;
    private final int nExpert, nUsed, ffnLength;
    private final Options opt;
    private final FeedForward shared;
    private final ExpertTask task = new ExpertTask();

    public MoeFfn(QMatrix router, ExpertWeights experts, int nUsed, Options options, FeedForward shared) {
        this.router = router;
        this.experts = experts;
        this.nExpert = experts.count();
        this.nUsed = nUsed;
        this.opt = options;
        this.ffnLength = experts.gate(0).rows(); // read once: a budgeted store holds expert 0 only while requested
        this.shared = shared;
        if (router.rows() != nExpert)
            throw new IllegalArgumentException("router has " + router.rows() + " outputs for " + nExpert + " experts");
        if (nUsed < 1 || nUsed > nExpert)
            throw new IllegalArgumentException("expert_used_count " + nUsed + " is outside [1, " + nExpert + "]");
        if (options.routerBias() != null && options.routerBias().length != nExpert)
            throw new IllegalArgumentException("router bias has " + options.routerBias().length + " values for " + nExpert + " experts");
        if (options.selectionBias() != null && options.selectionBias().length != nExpert)
            throw new IllegalArgumentException("expert selection bias has " + options.selectionBias().length + " values for " + nExpert + " experts");
        if (options.groups() > 1) {
            if (nExpert % options.groups() != 0)
                throw new IllegalArgumentException(nExpert + " experts do not split into " + options.groups() + " groups");
            if (options.groupsUsed() < 1 || options.groupsUsed() > options.groups())
                throw new IllegalArgumentException("expert_group_used_count " + options.groupsUsed() + " is outside [1, " + options.groups() + "]");
            if (options.groupsUsed() * (nExpert / options.groups()) < nUsed)
                throw new IllegalArgumentException(options.groupsUsed() + " groups of " + nExpert / options.groups() + " experts cannot supply " + nUsed + " experts");
        }
    }

    public QMatrix router() { return router; }

    public ExpertWeights experts() { return experts; }

    public int expertsUsed() { return nUsed; }

    /** Routing scratch of {@link #select} (prefetch prediction), apart from the step's. */
    private final MoeScratch selectScratch = new MoeScratch();
    private float[] selectLogits = new float[0];

    /**
     * The experts this layer routes the {@code n} FFN inputs {@code xn} (normalized, {@code [n][n_embd]}) to:
     * {@link #expertsUsed()} ids per row, best first, into {@code selected}. The routing {@link #forward} runs
     * (same router product, biases, gating, groups), for the expert store's prefetch. Not thread-safe.
     */
    public void select(WorkerPool pool, float[] xn, int n, int[] selected) {
        selectScratch.ensure(nExpert, n * nUsed);
        selectLogits = Workspace.fit(selectLogits, n * nExpert);
        pool.matmul(router, xn, router.cols(), n, selectLogits, nExpert);
        for (int t = 0; t < n; t++) route(selectLogits, t * nExpert, selectScratch, t * nUsed);
        System.arraycopy(selectScratch.selected, 0, selected, 0, n * nUsed);
    }

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
        for (int t = 0; t < n; t++) {
            route(ws.routerLogits, t * nExpert, m, t * nUsed);
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
                int e = m.selected[t * nUsed + i], dst = m.slot[t * nUsed + i] * embd;
                if (opt.weightBeforeFfn()) {
                    float w = m.weights[t * nUsed + i];
                    for (int j = 0; j < embd; j++) m.in[e][dst + j] = ws.xn[t * embd + j] * w;
                } else {
                    System.arraycopy(ws.xn, t * embd, m.in[e], dst, embd);
                }
            }

        // Gate and up of every active expert over its group, then down; in waves of what the expert store can
        // hold at once (one wave unless a RAM-budgeted store is smaller than the step's active set).
        int wave = Math.max(1, Math.min(active, experts.maxAcquired()));
        task.invocations.set(0); // a step that failed in a later wave must not leave its count to the next one
        for (int w0 = 0; w0 < active; w0 += wave) {
            int w = Math.min(wave, active - w0);
            // Issue the wave's reads, then run its experts as they arrive (cached ones at once), so a budgeted
            // store's I/O overlaps the compute of the experts already in memory.
            experts.request(m.active, w0, w);
            try {
                for (int done = w0, end = w0 + w; done < end; ) {
                    int k = experts.ready(m.active, done, end - done);
                    task.set(m, done, k, ffn, embd, ws.pool.threads(), true);
                    ws.pool.run(task.chunks, task);
                    for (int a = done; a < done + k; a++) {
                        int e = m.active[a];
                        if (opt.activation() == Activation.SWIGLU_OAI) swigluOai(m.gate[e], m.up[e], m.count[e] * ffn);
                        else SwiGlu.silu(m.gate[e], m.up[e], m.count[e] * ffn);
                    }
                    task.set(m, done, k, embd, ffn, ws.pool.threads(), false);
                    ws.pool.run(task.chunks, task);
                    done += k;
                }
            } catch (ExpertReadException e) {
                // name the tokens that needed the failed experts, so only their sequences fail
                throw e.withRows(rowsRoutedTo(m, n, e.experts()));
            } finally {
                task.m = null;
                experts.release(m.active, w0, w);
            }
        }

        if (stats != null) {
            int[] routed = stats.routedTokens(layer, nExpert);
            for (int a = 0; a < active; a++) routed[m.active[a]] += m.count[m.active[a]];
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
                float w = opt.weightBeforeFfn() ? 1f : m.weights[t * nUsed + i];
                VectorMath.axpy(w, m.out[e], m.slot[t * nUsed + i] * embd, ws.out, t * embd, embd);
            }
    }

    /** The batch rows (ascending) with at least one of {@code failed} among their selected experts. */
    private int[] rowsRoutedTo(MoeScratch m, int n, int[] failed) {
        int[] rows = new int[n];
        int k = 0;
        for (int t = 0; t < n; t++) {
            boolean hit = false;
            for (int i = 0; i < nUsed && !hit; i++)
                for (int e : failed) hit |= m.selected[t * nUsed + i] == e;
            if (hit) rows[k++] = t;
        }
        return Arrays.copyOf(rows, k);
    }

    /** Routes one token: probabilities, (group-limited) top-k on the selection scores (ties to the lower id), weights. */
    private void route(float[] logits, int lo, MoeScratch m, int so) {
        float[] probs = m.probs, score = m.score;
        int[] sel = m.selected;
        float[] w = m.weights;
        float[] rb = opt.routerBias();
        for (int e = 0; e < nExpert; e++) probs[e] = rb == null ? logits[lo + e] : logits[lo + e] + rb[e];
        switch (opt.gating()) {
            case SOFTMAX -> softmax(probs, 0, nExpert);
            case SIGMOID -> { for (int e = 0; e < nExpert; e++) probs[e] = 1f / (1f + (float) Math.exp(-probs[e])); }
            case SQRT_SOFTPLUS -> {
                for (int e = 0; e < nExpert; e++) {
                    float x = probs[e];
                    probs[e] = (float) Math.sqrt(x > 20f ? x : (float) Math.log(1f + (float) Math.exp(x)));
                }
            }
            case SOFTMAX_SELECTED -> { } // select on the logits themselves
        }
        float[] sb = opt.selectionBias();
        for (int e = 0; e < nExpert; e++) score[e] = sb == null ? probs[e] : probs[e] + sb[e];
        if (opt.groups() > 1) maskGroups(score, m);
        for (int i = 0; i < nUsed; i++) {
            int best = -1;
            for (int e = 0; e < nExpert; e++) {
                if (best >= 0 && !(score[e] > score[best])) continue;
                boolean taken = false;
                for (int j = 0; j < i; j++) if (sel[so + j] == e) { taken = true; break; }
                if (!taken) best = e;
            }
            sel[so + i] = best;
            w[so + i] = probs[best];
        }
        if (opt.gating() == Gating.SOFTMAX_SELECTED) softmax(w, so, nUsed);
        if (opt.normalize()) {
            double sum = 0;
            for (int i = 0; i < nUsed; i++) sum += w[so + i];
            float s = Math.max((float) sum, MIN_WEIGHT_SUM);
            for (int i = 0; i < nUsed; i++) w[so + i] /= s;
        }
        float scale = opt.weightScale();
        if (scale != 0f && scale != 1f) for (int i = 0; i < nUsed; i++) w[so + i] *= scale;
    }

    /** Keeps the {@code groupsUsed} groups with the largest sum of their two best scores; the rest become -inf. */
    private void maskGroups(float[] score, MoeScratch m) {
        int groups = opt.groups(), size = nExpert / groups;
        float[] gs = m.groupScore;
        for (int g = 0; g < groups; g++) {
            float a = Float.NEGATIVE_INFINITY, b = Float.NEGATIVE_INFINITY;
            for (int e = g * size; e < (g + 1) * size; e++) {
                float v = score[e];
                if (v > a) { b = a; a = v; } else if (v > b) b = v;
            }
            gs[g] = size > 1 ? a + b : a;
        }
        boolean[] keep = m.keepGroup;
        java.util.Arrays.fill(keep, 0, groups, false);
        for (int i = 0; i < opt.groupsUsed(); i++) {
            int best = -1;
            for (int g = 0; g < groups; g++)
                if (!keep[g] && (best < 0 || gs[g] > gs[best])) best = g;
            keep[best] = true;
        }
        for (int g = 0; g < groups; g++)
            if (!keep[g]) java.util.Arrays.fill(score, g * size, (g + 1) * size, Float.NEGATIVE_INFINITY);
    }

    /** In-place softmax as ggml computes it: exp(x - max) in float, summed in double, times 1/sum. */
    static void softmax(float[] v, int off, int n) {
        float max = Float.NEGATIVE_INFINITY;
        for (int i = 0; i < n; i++) max = Math.max(max, v[off + i]);
        double sum = 0;
        for (int i = 0; i < n; i++) {
            float e = (float) Math.exp(v[off + i] - max);
            v[off + i] = e;
            sum += e;
        }
        float inv = (float) (1.0 / sum);
        for (int i = 0; i < n; i++) v[off + i] *= inv;
    }

    /** gpt-oss's clamped SwiGLU (ggml swiglu_oai): {@code g[i] = min(g,L) sigmoid(alpha min(g,L)) (clamp(u,-L,L) + 1)}. */
    static void swigluOai(float[] g, float[] u, int len) {
        for (int i = 0; i < len; i++) {
            float x = Math.min(g[i], OAI_LIMIT);
            float y = Math.min(Math.max(u[i], -OAI_LIMIT), OAI_LIMIT);
            g[i] = x / (1f + (float) Math.exp(OAI_ALPHA * -x)) * (y + 1f);
        }
    }

    /** Per-step routing state, shared by all MoE layers through the workspace. */
    public static final class MoeScratch {
        int[] count = new int[0], active = new int[0], selected = new int[0], slot = new int[0];
        float[] weights = new float[0], probs = new float[0], score = new float[0], groupScore = new float[0];
        boolean[] keepGroup = new boolean[0];
        float[][] in = new float[0][], gate = new float[0][], up = new float[0][], out = new float[0][];

        void ensure(int nExpert, int slots) {
            if (count.length < nExpert) {
                count = new int[nExpert];
                active = new int[nExpert];
                probs = new float[nExpert];
                score = new float[nExpert];
                groupScore = new float[nExpert];
                keepGroup = new boolean[nExpert];
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
                scaleRows(experts.gateScale(e), r0, r1, c, rows, m.gate[e]);
                addRowBias(experts.gateBias(e), r0, r1, c, rows, m.gate[e]);
                mul(experts.up(e), r0, r1, m.in[e], c, m.up[e]);
                scaleRows(experts.upScale(e), r0, r1, c, rows, m.up[e]);
                addRowBias(experts.upBias(e), r0, r1, c, rows, m.up[e]);
            } else {
                mul(experts.down(e), r0, r1, m.gate[e], c, m.out[e]);
                scaleRows(experts.downScale(e), r0, r1, c, rows, m.out[e]);
                addRowBias(experts.downBias(e), r0, r1, c, rows, m.out[e]);
            }
        }

        /** {@code out[v * rows + r] *= scale} for rows {@code [r0, r1)} of {@code nVec} vectors (ggml: product, then bias). */
        private static void scaleRows(float scale, int r0, int r1, int nVec, int rows, float[] out) {
            if (scale == 1f) return;
            for (int v = 0; v < nVec; v++)
                for (int r = r0; r < r1; r++) out[v * rows + r] *= scale;
        }

        /** {@code out[v * rows + r] += bias[r]} for rows {@code [r0, r1)} of {@code nVec} vectors. */
        private static void addRowBias(float[] bias, int r0, int r1, int nVec, int rows, float[] out) {
            if (bias == null) return;
            for (int v = 0; v < nVec; v++)
                for (int r = r0; r < r1; r++) out[v * rows + r] += bias[r];
        }

        private void mul(QMatrix w, int r0, int r1, float[] x, int nVec, float[] out) {
            Matrices.mul(w, r0, r1, x, nVec, out);
        }
    }
}
