package io.moeflow.model;

import io.moeflow.experts.ExpertRouting;
import io.moeflow.experts.ExpertSlice;
import io.moeflow.experts.ExpertStore;
import io.moeflow.experts.ExpertStoreConfig;
import io.moeflow.experts.MappedExperts;
import io.moeflow.gguf.GgufFile;
import io.moeflow.gguf.GgufTensor;
import io.moeflow.kernels.Formats;
import io.moeflow.kernels.QMatrix;
import io.moeflow.kernels.WorkerPool;
import io.moeflow.model.blocks.Attention;
import io.moeflow.model.blocks.AttentionBlock;
import io.moeflow.model.blocks.FeedForward;
import io.moeflow.model.blocks.MoeFfn;
import io.moeflow.model.blocks.RmsNorm;
import io.moeflow.model.blocks.Rope;
import io.moeflow.model.blocks.Workspace;
import java.util.ArrayList;
import java.util.List;

/**
 * The forward pass shared by pre-norm decoder transformers: embedding, then per layer
 * {@code x += attn(norm(x)); x += ffn(norm(x))}, then the output norm and head. Architectures are short
 * subclasses that build their {@link Layer}s from the GGUF's tensors.
 */
public abstract class DecoderModel implements Model, ExpertRouting {
    /** One transformer layer: pre-attention norm, attention, pre-FFN norm, FFN. */
    public record Layer(float[] attnNorm, AttentionBlock attention, float[] ffnNorm, FeedForward ffn) {}

    protected final GgufFile gguf;
    protected final DecoderConfig config;
    protected final WorkerPool pool;
    private final QMatrix tokenEmbd, output;
    private final float[] outputNorm;
    private Layer[] layers;
    private final Workspace ws;
    private final ModelInfo info;
    private float[] finalRows = new float[0];
    /** Factors of the embeddings, of every block's output before it joins the residual stream, and of the logits (granite). */
    private float embeddingScale = 1f, residualScale = 1f, logitScale = 1f;
    /** Serves the routed experts in budgeted mode; null when they are read from the mapping. */
    private ExpertStore expertStore;
    /** FFN input of {@link #route}, normalized. */
    private float[] routeIn = new float[0];

    private static final System.Logger LOG = System.getLogger(DecoderModel.class.getName());

    protected DecoderModel(GgufFile gguf, DecoderConfig config, WorkerPool pool) {
        this.gguf = gguf;
        this.config = config;
        this.pool = pool;
        this.tokenEmbd = gguf.tensor("token_embd.weight").matrix();
        this.output = gguf.findTensor("output.weight").orElse(gguf.tensor("token_embd.weight")).matrix();
        this.outputNorm = gguf.tensor("output_norm.weight").toFloats();
        this.ws = new Workspace(pool);
        this.info = new ModelInfo(config.arch(), gguf.getString("general.name", gguf.path().getFileName().toString()),
                config.vocabSize(), config.contextLength(), config.layers(), config.embeddingLength(),
                config.expertCount(), config.expertUsedCount());
    }

    /**
     * Called by subclass constructors once their layers are built. Refuses a file with a tensor the model does not
     * use (llama.cpp refuses those too, "wrong number of tensors"): an ignored bias, scale or projection would
     * silently change the numbers. Exempt are the MTP blocks decoding skips (llama.cpp skips them unloaded) and
     * {@code .input_scale} tensors, which llama.cpp loads and never applies.
     */
    protected final void setLayers(Layer[] layers) {
        this.layers = layers;
        List<String> unused = new ArrayList<>();
        for (GgufTensor t : gguf.tensorsNotLookedUp()) {
            if (t.name().endsWith(".input_scale") || inSkippedBlock(t.name())) continue;
            unused.add(t.name());
        }
        if (!unused.isEmpty())
            throw new IllegalArgumentException(config.arch() + ": tensor '" + unused.get(0) + "'"
                    + (unused.size() > 1 ? " (and " + (unused.size() - 1) + " more: " + String.join(", ", unused.subList(1, Math.min(unused.size(), 6)))
                    + (unused.size() > 6 ? ", ..." : "") + ")" : "")
                    + " is not used by moeflow's " + config.arch() + " model; refusing the file rather than computing without it");
    }

    /** Whether {@code name} is a tensor of an MTP block ({@code blk.N.*}, N at or past the decoder's layers). */
    private boolean inSkippedBlock(String name) {
        if (config.nextnLayers() == 0 || !name.startsWith("blk.")) return false;
        int dot = name.indexOf('.', 4);
        if (dot < 0) return false;
        try {
            return Integer.parseInt(name.substring(4, dot)) >= config.layers();
        } catch (NumberFormatException e) {
            return false;
        }
    }

    /**
     * Granite's scalings as llama.cpp applies them: the token embeddings times {@code embedding}, each attention and
     * FFN output times {@code residual} before it is added to the residual stream, the logits times {@code logit}.
     */
    protected final void setStreamScales(float embedding, float residual, float logit) {
        this.embeddingScale = embedding;
        this.residualScale = residual;
        this.logitScale = logit;
    }

    public final java.util.List<Layer> layers() {
        return java.util.List.of(layers);
    }

    public final GgufFile file() {
        return gguf;
    }

    /**
     * Serves the routed experts from a new {@link ExpertStore} as {@code cfg} says (nothing changes in resident mode,
     * or when the model has no routed experts); the store predicts with this model's routing ({@link #route}) and
     * closes with the model. Returns the store, or null.
     */
    public final synchronized ExpertStore attachExpertStore(ExpertStoreConfig cfg) {
        if (cfg.mode() == ExpertStoreConfig.Mode.RESIDENT) return null;
        if (expertStore != null) throw new IllegalStateException("the experts of " + info.name() + " are already served from a store");
        List<ExpertStore.LayerSpec> specs = new ArrayList<>();
        List<MoeFfn> ffns = new ArrayList<>();
        for (int l = 0; l < layers.length; l++) {
            if (layers[l].ffn() instanceof MoeFfn moe && moe.experts() instanceof MappedExperts me) {
                specs.add(new ExpertStore.LayerSpec(l, me.gateSlice(), me.upSlice(), me.downSlice(), me));
                ffns.add(moe);
            }
        }
        if (specs.isEmpty()) {
            LOG.log(System.Logger.Level.WARNING, info.name() + " has no routed experts; --expert-cache is ignored");
            return null;
        }
        ExpertStore store = new ExpertStore(specs, this, cfg);
        for (int i = 0; i < ffns.size(); i++) ffns.get(i).useExperts(store.layer(specs.get(i).layer()));
        this.expertStore = store;
        return store;
    }

    /**
     * The experts MoE layer {@code layer} routes the {@code n} rows of {@code x} to, taking {@code x} as the residual
     * stream before that layer's FFN: its FFN norm, router and selection, the code {@link #forward} runs. The
     * expert store predicts the next layer's experts with it.
     */
    @Override
    public final synchronized int route(int layer, float[] x, int n, int[] selected) {
        if (layer < 0 || layer >= layers.length || !(layers[layer].ffn() instanceof MoeFfn moe))
            throw new IllegalArgumentException("layer " + layer + " of " + info.name() + " has no routed experts");
        int d = config.embeddingLength();
        routeIn = Workspace.fit(routeIn, n * d);
        RmsNorm.apply(x, 0, routeIn, 0, n, d, d, layers[layer].ffnNorm(), config.rmsEps());
        moe.select(pool, routeIn, n, selected);
        return moe.expertsUsed();
    }

    /** The RAM-budgeted expert store, or null when experts are served from the memory mapping. */
    public final ExpertStore expertStore() {
        return expertStore;
    }

    protected final GgufTensor t(int layer, String name) {
        return gguf.tensor("blk." + layer + "." + name + ".weight");
    }

    protected final boolean has(int layer, String name) {
        return gguf.findTensor("blk." + layer + "." + name + ".weight").isPresent();
    }

    protected final float[] norm(int layer, String name) {
        return t(layer, name).toFloats();
    }

    /** {@code blk.<layer>.<name>.bias} as floats, or null when the file has none. */
    protected final float[] bias(int layer, String name) {
        return gguf.findTensor("blk." + layer + "." + name + ".bias").map(GgufTensor::toFloats).orElse(null);
    }

    /** {@code blk.<layer>.<name>.weight} as floats, or null when the file has none. */
    protected final float[] optionalNorm(int layer, String name) {
        return has(layer, name) ? norm(layer, name) : null;
    }

    /**
     * The routed experts of a layer ({@code ffn_{gate,up,down}_exps} and their optional biases and scales), served
     * from the mapping; with {@code fusedGateUp}, a fused {@code ffn_gate_up_exps} ({@code ne = {n_embd, 2 n_ff,
     * n_expert}}) is taken instead of gate and up where the file has one: each expert's gate is its first
     * {@code n_ff} rows, up the rest (llama.cpp's build_moe_ffn, and convert_hf_to_gguf's --fuse-gate-up-exps
     * concatenating gate then up). {@code expertScales}: apply the per-expert {@code .scale} tensors (where
     * llama.cpp's graph for the architecture passes them to build_moe_ffn).
     */
    protected final MappedExperts routedExperts(int layer, boolean fusedGateUp, boolean expertScales) {
        ExpertSlice gate, up;
        if (fusedGateUp && has(layer, "ffn_gate_up_exps")) {
            for (String separate : new String[] {"ffn_gate_exps", "ffn_up_exps"})
                if (has(layer, separate))
                    throw new IllegalArgumentException("blk." + layer + ": both ffn_gate_up_exps and " + separate + " are present; a file holds one or the other");
            GgufTensor fused = t(layer, "ffn_gate_up_exps");
            if (fused.dims() != 3 || fused.ne(1) % 2 != 0)
                throw new IllegalArgumentException("tensor " + fused.name() + " " + java.util.Arrays.toString(fused.ne())
                        + " is not {n_embd, 2 x n_ff, n_expert}");
            int ff = (int) (fused.ne(1) / 2);
            gate = new ExpertSlice(fused, 0, ff);
            up = new ExpertSlice(fused, ff, ff);
        } else {
            gate = ExpertSlice.of(t(layer, "ffn_gate_exps"));
            up = ExpertSlice.of(t(layer, "ffn_up_exps"));
        }
        return new MappedExperts(gate, up, ExpertSlice.of(t(layer, "ffn_down_exps")), new MappedExperts.Extras(
                tensorOrNull(layer, "ffn_gate_exps", "bias"), tensorOrNull(layer, "ffn_up_exps", "bias"), tensorOrNull(layer, "ffn_down_exps", "bias"),
                expertScales ? tensorOrNull(layer, "ffn_gate_exps", "scale") : null,
                expertScales ? tensorOrNull(layer, "ffn_up_exps", "scale") : null,
                expertScales ? tensorOrNull(layer, "ffn_down_exps", "scale") : null));
    }

    /** {@code blk.<layer>.<name>.<suffix>}, or null when the file has none. */
    protected final GgufTensor tensorOrNull(int layer, String name, String suffix) {
        return gguf.findTensor("blk." + layer + "." + name + "." + suffix).orElse(null);
    }

    /** Softmax routing whose top-k weights are NOT renormalised (qwen2moe, olmoe), scaled by {@code expert_weights_scale}. */
    protected final MoeFfn.Options softmaxRoutingWithoutRenormalisation() {
        return MoeFfn.Options.of(MoeFfn.Gating.SOFTMAX, false, gguf.getFloat(config.arch() + ".expert_weights_scale", 1f));
    }

    /** How an architecture's q/k/v projections are loaded. */
    protected enum Qkv {
        /**
         * As llama.cpp's create_tensor_qkv and build_qkv: a fused {@code attn_qkv} (rows q, then k, then v, with an
         * optional {@code attn_qkv.bias} and {@code .scale}) where the file has one, else {@code attn_q/k/v} with
         * optional biases and scales.
         */
        LLAMA_CPP,
        /** {@code attn_q/k/v} only, without biases or scales (an architecture whose graph uses nothing else). */
        SEPARATE
    }

    /**
     * GQA attention of {@code layer} with this config's head layout: the q/k/v projections as {@code qkv} says, the
     * output projection with its optional {@code .scale} and, when {@code outputBias}, its optional bias;
     * {@code options} add the architecture's norms, sinks and window.
     */
    protected final Attention attention(int layer, Attention.Options options, Rope rope, Qkv qkv, boolean outputBias) {
        var c = config;
        int qDim = c.qDim(), kDim = c.kvDim(), vDim = c.vDim();
        QMatrix q, k, v;
        float[] qb = null, kb = null, vb = null;
        float qs = 1f, ks = 1f, vs = 1f;
        if (has(layer, "attn_qkv")) {
            if (qkv != Qkv.LLAMA_CPP)
                throw new IllegalArgumentException(c.arch() + ": tensor blk." + layer + ".attn_qkv.weight (fused q/k/v) is not supported for this"
                        + " architecture: llama.cpp's " + c.arch() + " graph reads attn_q, attn_k and attn_v");
            GgufTensor t = t(layer, "attn_qkv");
            if (t.dims() != 2 || t.ne(1) != (long) qDim + kDim + vDim)
                throw new IllegalArgumentException(c.arch() + ": tensor " + t.name() + " " + java.util.Arrays.toString(t.ne())
                        + " is not {n_embd, q " + qDim + " + k " + kDim + " + v " + vDim + "}");
            q = t.rows(0, qDim);
            k = t.rows(qDim, kDim);
            v = t.rows(qDim + kDim, vDim);
            float[] b = bias(layer, "attn_qkv");
            if (b != null) {
                if (b.length != qDim + kDim + vDim)
                    throw new IllegalArgumentException(c.arch() + ": blk." + layer + ".attn_qkv.bias has " + b.length + " values, expected " + (qDim + kDim + vDim));
                qb = java.util.Arrays.copyOfRange(b, 0, qDim);
                kb = java.util.Arrays.copyOfRange(b, qDim, qDim + kDim);
                vb = java.util.Arrays.copyOfRange(b, qDim + kDim, qDim + kDim + vDim);
            }
            qs = ks = vs = scale(layer, "attn_qkv");
        } else {
            q = t(layer, "attn_q").matrix();
            k = t(layer, "attn_k").matrix();
            v = t(layer, "attn_v").matrix();
            if (qkv == Qkv.LLAMA_CPP) {
                qb = bias(layer, "attn_q");
                kb = bias(layer, "attn_k");
                vb = bias(layer, "attn_v");
                qs = scale(layer, "attn_q");
                ks = scale(layer, "attn_k");
                vs = scale(layer, "attn_v");
            }
        }
        Attention.Options opt = options.withBiases(qb, kb, vb, outputBias ? bias(layer, "attn_output") : null)
                .withScales(new Attention.Scales(qs, ks, vs, scale(layer, "attn_output")));
        return new Attention(q, k, v, t(layer, "attn_output").matrix(), opt, c.heads(), c.kvHeads(), c.keyLength(), c.valueLength(), c.rmsEps(), rope);
    }

    /** The per-tensor factor {@code blk.<layer>.<name>.scale} (ggml multiplies the product by it), 1 when absent. */
    protected final float scale(int layer, String name) {
        GgufTensor t = tensorOrNull(layer, name, "scale");
        if (t == null) return 1f;
        if (t.elements() != 1)
            throw new IllegalArgumentException(config.arch() + ": tensor " + t.name() + " " + java.util.Arrays.toString(t.ne()) + " is not one value");
        return t.toFloats()[0];
    }

    /** The per-head matrices of a 3-D tensor {@code ne = {cols, rows, heads}} (MLA's {@code attn_k_b}/{@code attn_v_b}), zero copy. */
    protected final QMatrix[] slices(int layer, String name) {
        GgufTensor t = t(layer, name);
        QMatrix[] m = new QMatrix[(int) t.ne(2)];
        for (int i = 0; i < m.length; i++) m[i] = t.expert(i);
        return m;
    }

    @Override
    public ModelInfo info() {
        return info;
    }

    public DecoderConfig config() {
        return config;
    }

    @Override
    public KvCache newKvCache(int blocks) {
        return new KvCache(config.layers(), kvKeyDim(), kvValueDim(), blocks);
    }

    /** Floats of key per layer and position in the KV cache; architectures with another cache layout override. */
    protected int kvKeyDim() {
        return config.kvDim();
    }

    /** Floats of value per layer and position in the KV cache. */
    protected int kvValueDim() {
        return config.vDim();
    }

    @Override
    public synchronized void forward(ForwardBatch batch, KvCache kv, float[] logits, StepStats stats) {
        int n = batch.size, d = config.embeddingLength(), vocab = config.vocabSize();
        if (n == 0) return;
        validate(batch, kv);
        if (stats != null) {
            stats.reset(layers.length);
            stats.tokens = n;
        }
        ws.x = Workspace.fit(ws.x, n * d);
        ws.xn = Workspace.fit(ws.xn, n * d);
        ws.out = Workspace.fit(ws.out, n * d);
        var embd = Formats.of(tokenEmbd.type());
        for (int t = 0; t < n; t++) embd.dequantize(tokenEmbd.data(), tokenEmbd.rowOffset(batch.tokens[t]), ws.x, t * d, d);
        if (embeddingScale != 1f) for (int i = 0; i < n * d; i++) ws.x[i] *= embeddingScale;

        float eps = config.rmsEps();
        long t0 = System.nanoTime(), attn = 0, ffn = 0;
        for (int l = 0; l < layers.length; l++) {
            Layer layer = layers[l];
            long a = System.nanoTime();
            RmsNorm.apply(ws.x, 0, ws.xn, 0, n, d, d, layer.attnNorm(), eps);
            layer.attention().forward(l, batch, kv, ws);
            addInto(ws.x, ws.out, n * d, residualScale);
            long b = System.nanoTime();
            RmsNorm.apply(ws.x, 0, ws.xn, 0, n, d, d, layer.ffnNorm(), eps);
            if (expertStore != null) expertStore.ffnInput(l, ws.x, n); // prefetch of layer l+1's experts
            if (stats != null && stats.routing != null) stats.routing.ffnInput(l, ws.x, n);
            layer.ffn().forward(l, n, ws, stats);
            addInto(ws.x, ws.out, n * d, residualScale);
            long c = System.nanoTime();
            attn += b - a;
            ffn += c - b;
        }
        for (int t = 0; t < n; t++) kv.markWritten(batch.seqIds[t], batch.positions[t]);

        int rows = 0;
        finalRows = Workspace.fit(finalRows, batch.logitRows() * d);
        for (int t = 0; t < n; t++) {
            if (!batch.wantLogits[t]) continue;
            RmsNorm.apply(ws.x, t * d, finalRows, rows * d, 1, d, d, outputNorm, eps);
            rows++;
        }
        if (rows > 0) pool.matmul(output, finalRows, d, rows, logits, vocab);
        if (logitScale != 1f) for (int i = 0; i < rows * vocab; i++) logits[i] *= logitScale;
        if (stats != null) {
            stats.attentionNanos = attn;
            stats.expertNanos = ffn;
            stats.otherNanos = System.nanoTime() - t0 - attn - ffn;
        }
    }

    private void validate(ForwardBatch batch, KvCache kv) {
        for (int t = 0; t < batch.size; t++) {
            int tok = batch.tokens[t], pos = batch.positions[t];
            if (tok < 0 || tok >= config.vocabSize())
                throw new IllegalArgumentException("token id " + tok + " is outside the vocabulary [0, " + config.vocabSize() + ")");
            if (pos < 0 || pos >= config.contextLength())
                throw new IllegalArgumentException("position " + pos + " is outside the context [0, " + config.contextLength() + ")");
            kv.block(batch.seqIds[t], pos); // throws when the caller did not reserve KV memory
        }
    }

    /** {@code x += y}, or (granite) {@code x += scale * y} rounded as ggml's scale-then-add, the same at every width. */
    private static void addInto(float[] x, float[] y, int n, float scale) {
        if (scale == 1f) io.moeflow.kernels.VectorMath.axpy(1f, y, 0, x, 0, n);
        else for (int i = 0; i < n; i++) x[i] += scale * y[i];
    }

    @Override
    public void close() {
        if (expertStore != null) expertStore.close();
        gguf.close();
    }
}
