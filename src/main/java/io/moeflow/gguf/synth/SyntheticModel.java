package io.moeflow.gguf.synth;

import io.moeflow.gguf.GgufFile;
import io.moeflow.gguf.GgufValue;
import io.moeflow.gguf.GgufWriter;
import io.moeflow.kernels.Formats;
import io.moeflow.kernels.GgmlType;
import io.moeflow.kernels.TensorFormat;
import java.io.IOException;
import java.io.InterruptedIOException;
import java.lang.foreign.MemorySegment;
import java.nio.ByteBuffer;
import java.nio.channels.WritableByteChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.SplittableRandom;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;

/**
 * A random-weight model of a given {@link SynthShape}, written as GGUF with moeflow's own writer and quantizers,
 * tensor by tensor and chunk by chunk (never the whole model in memory).
 *
 * <p>Weights (../shared/bench/README.md): normal with std 0.02, 0.06 for {@code attn_q}/{@code attn_k}, 0.1 for the
 * routers {@code ffn_gate_inp}; every RMSNorm weight {@code 1 + 0.05 N(0, 1)}; {@code output.weight} separate from
 * {@code token_embd}. Types follow llama-quantize's defaults ({@link QuantRules}). The tokenizer is a copy of the
 * {@code tokenizer.ggml.*} metadata of another GGUF (the tok512 vocabulary of stories260K), so the model is
 * tokenizable.
 *
 * <p>Deterministic: each tensor is cut into chunks of whole rows whose size depends only on the row length, and
 * chunk c of tensor {@code name} draws from {@code SplittableRandom(hash(seed, name, c))}, so the bytes do not
 * depend on the thread count. Gaussians come from {@link SplittableRandom#nextGaussian()} (the JDK's modified
 * ziggurat, ~7 ns a value here, against ~40 ns for Box-Muller with log/sin/cos).
 *
 * <p>With a {@link RoutingSkew}, dimension {@link #massiveDim} of every token embedding holds the constant
 * {@link #massiveValue} and router row e of layer l has, in that dimension, the weight that turns it into the
 * calibrated logit offset of e's popularity rank (see {@link RoutingSkew}); popularity order is a seeded
 * permutation per layer. No other matrix reads or writes that dimension (its column, or for attn_output and
 * ffn_down its row, is zero), so it stays constant through the layers and only the routers see it. The router
 * weight is scaled by the expected size of the residual stream's other dimensions, which set the random part of
 * the router logits: the embedding's plus, per layer, the attention output's (see {@link #ATTENTION_SPREAD}).
 * The bench model's measured selection histogram is the honest statement of the skew; this calibration only
 * aims near the Zipf target. Measured on bench-qwen3moe Q8_0 (16 sequences of 64 random tokens): zipf:1.1 gives
 * the most chosen quarter of the experts 65 % of the selections on average over the layers (target 71 %), but
 * unevenly: 99 % in layer 0 (the constant shrinks the other dimensions there more than estimated), 54-60 % in
 * the deeper layers (the residual stream grows about linearly with depth, not as a random walk, because each
 * sequence's context adds a component common to its tokens). Without skew: 45 %, from that per-sequence
 * component, which also makes consecutive tokens share 33 % (layer 0) to 87 % (deep layers) of their experts.
 */
public final class SyntheticModel {
    /** Values generated and quantized per task (whole rows; at least one row). */
    static final int CHUNK_VALUES = 1 << 18;

    static final float STD = 0.02f, STD_QK = 0.06f, STD_ROUTER = 0.1f, NORM_STD = 0.05f;

    /**
     * Share of one value vector's variance left in a typical position's attention output (the sum of squared
     * attention weights): attention averages the values of the positions it sees, ~e/t for t positions with the
     * score spread of these weights; this is the figure for mid-prompt positions of a benchmark (t ~ 30). Measured
     * on 16 experts top-4 (SynthModelRunTest): 1.0 over-skews zipf:1.1 (top quarter 92 % of selections against
     * a target of 61 %), 0.03 under-skews (52 %), 0.1 gives 63 %.
     */
    static final double ATTENTION_SPREAD = 0.1;

    /** Metadata keys describing how the model was made. */
    public static final String KEY_SEED = "moeflow.synth.seed", KEY_SKEW = "moeflow.synth.skew";

    private final SynthShape shape;
    private final SynthFileType fileType;
    private final long seed;
    private final RoutingSkew skew;
    private final Map<String, GgufValue> tokenizer;
    private final List<SynthTensor> tensors;
    private final int massiveDim;
    private final float massiveValue;
    /** Per MoE layer, the router weight in {@link #massiveDim} of each expert; null without skew. */
    private final float[][] routerBias;

    /** One tensor of the model and how its values are drawn. */
    public record SynthTensor(String name, long[] ne, GgmlType type, Init init, int layer) {
        public long elements() {
            long n = 1;
            for (long d : ne) n *= d;
            return n;
        }

        public long byteSize() {
            return type.bytesFor(elements());
        }

        int rowsPerChunk() {
            return (int) Math.max(1, CHUNK_VALUES / ne[0]);
        }

        long rows() {
            return elements() / ne[0];
        }

        long chunks() {
            return (rows() + rowsPerChunk() - 1) / rowsPerChunk();
        }

        /** How the tensor touches the residual stream's dimensions (what the skew's massive dimension must avoid). */
        Role readsResidual() {
            if (init == Init.EMBEDDING) return Role.EMBEDDING;
            if (init == Init.ROUTER) return Role.ROUTER;
            if (ne.length < 2) return Role.NONE;
            return name.contains("attn_output") || name.contains("ffn_down") ? Role.WRITES : Role.READS;
        }
    }

    /** A tensor's relation to the residual stream. */
    enum Role { EMBEDDING, ROUTER, READS, WRITES, NONE }

    /** How a tensor's values are drawn. */
    public enum Init { NORMAL, NORMAL_QK, ROUTER, NORM, EMBEDDING }

    /** Receives progress after every chunk written. */
    @FunctionalInterface
    public interface Progress {
        void update(int tensorIndex, int tensorCount, String tensorName, long bytesWritten, long bytesTotal);
    }

    public SyntheticModel(SynthShape shape, SynthFileType fileType, long seed, RoutingSkew skew, Map<String, GgufValue> tokenizer) {
        this.shape = Objects.requireNonNull(shape, "shape").validate();
        this.fileType = Objects.requireNonNull(fileType, "fileType");
        this.seed = seed;
        this.skew = skew;
        this.tokenizer = Collections.unmodifiableMap(new LinkedHashMap<>(Objects.requireNonNull(tokenizer, "tokenizer")));
        GgufValue tokens = tokenizer.get("tokenizer.ggml.tokens");
        if (tokens == null || tokens.array() == null)
            throw new IllegalArgumentException("the tokenizer metadata has no tokenizer.ggml.tokens array");
        if (tokens.array().length() != shape.vocab())
            throw new IllegalArgumentException("--vocab " + shape.vocab() + " does not match the tokenizer's " + tokens.array().length()
                    + " tokens (synth copies the tok512 vocabulary of stories260K: use --vocab " + tokens.array().length() + ")");
        if (skew != null && !shape.moe())
            throw new IllegalArgumentException("--skew needs a model with experts (--experts > 0)");
        // the calibration models plain top-k; group-limited sigmoid routing would miss its target, and the massive
        // dimension's bookkeeping (Role) does not cover the latent projections
        if (skew != null && shape.deepseek2())
            throw new IllegalArgumentException("--skew is not supported for deepseek2 (its calibration assumes top-k without expert groups)");
        this.tensors = plan();
        this.massiveDim = (int) Math.floorMod(mix(seed, "moeflow.massive", 0), (long) shape.embd());
        double attnVar = ATTENTION_SPREAD * STD * STD * shape.qDim() * STD * STD * shape.embd();
        double baseVar = STD * STD + attnVar;
        this.massiveValue = skew == null ? 0f : (float) Math.sqrt(shape.embd() * baseVar);
        if (skew == null) {
            routerBias = null;
        } else {
            double[] offsets = skew.calibratedOffsets(shape.experts(), shape.expertsUsed());
            routerBias = new float[shape.layers()][shape.experts()];
            for (int l = 0; l < shape.layers(); l++) {
                double growth = Math.sqrt((STD * STD + (l + 1) * attnVar) / baseVar);
                int[] byRank = permutation(shape.experts(), new SplittableRandom(mix(seed, "moeflow.popularity", l)));
                for (int r = 0; r < shape.experts(); r++) routerBias[l][byRank[r]] = (float) (STD_ROUTER * offsets[r] * growth);
            }
        }
    }

    /**
     * The {@code tokenizer.ggml.*} entries of {@code vocabSource} (e.g. models/stories260K/stories260K.gguf), to
     * pass to the constructor.
     */
    public static Map<String, GgufValue> tokenizerOf(GgufFile vocabSource) {
        Map<String, GgufValue> m = new LinkedHashMap<>();
        vocabSource.metadata().forEach((k, v) -> {
            if (k.startsWith("tokenizer.ggml.")) m.put(k, v);
        });
        if (!m.containsKey("tokenizer.ggml.tokens"))
            throw new IllegalArgumentException(vocabSource.path() + " has no tokenizer.ggml.tokens: it cannot give synth a vocabulary");
        return m;
    }

    public SynthShape shape() { return shape; }

    public SynthFileType fileType() { return fileType; }

    public List<SynthTensor> tensors() { return tensors; }

    /** Dimension of the constant "massive activation" in every token embedding (used with a skew only). */
    public int massiveDim() { return massiveDim; }

    public float massiveValue() { return massiveValue; }

    /** Bytes of tensor data (without header and alignment padding). */
    public long tensorBytes() {
        long n = 0;
        for (SynthTensor t : tensors) n += t.byteSize();
        return n;
    }

    private List<SynthTensor> plan() {
        List<SynthTensor> ts = new ArrayList<>();
        SynthShape s = shape;
        int layers = s.layers(), experts = s.experts();
        long embd = s.embd();
        add(ts, "token_embd.weight", Init.EMBEDDING, -1, embd, s.vocab());
        add(ts, "output_norm.weight", Init.NORM, -1, embd);
        add(ts, "output.weight", Init.NORMAL, -1, embd, s.vocab());
        if (s.deepseek2()) {
            for (int l = 0; l < layers; l++) planDeepSeek2Layer(ts, l);
            return List.copyOf(ts);
        }
        boolean qkNorm = s.arch().equals("qwen3moe");
        for (int l = 0; l < layers; l++) {
            String p = "blk." + l + ".";
            add(ts, p + "attn_norm.weight", Init.NORM, l, embd);
            add(ts, p + "attn_q.weight", Init.NORMAL_QK, l, embd, s.qDim());
            add(ts, p + "attn_k.weight", Init.NORMAL_QK, l, embd, s.kvDim());
            add(ts, p + "attn_v.weight", Init.NORMAL, l, embd, s.kvDim());
            add(ts, p + "attn_output.weight", Init.NORMAL, l, s.qDim(), embd);
            if (qkNorm) {
                add(ts, p + "attn_q_norm.weight", Init.NORM, l, s.headDim());
                add(ts, p + "attn_k_norm.weight", Init.NORM, l, s.headDim());
            }
            add(ts, p + "ffn_norm.weight", Init.NORM, l, embd);
            if (s.moe()) {
                add(ts, p + "ffn_gate_inp.weight", Init.ROUTER, l, embd, experts);
                add(ts, p + "ffn_gate_exps.weight", Init.NORMAL, l, embd, s.expertFfn(), experts);
                add(ts, p + "ffn_up_exps.weight", Init.NORMAL, l, embd, s.expertFfn(), experts);
                add(ts, p + "ffn_down_exps.weight", Init.NORMAL, l, s.expertFfn(), embd, experts);
            } else {
                add(ts, p + "ffn_gate.weight", Init.NORMAL, l, embd, s.ffn());
                add(ts, p + "ffn_up.weight", Init.NORMAL, l, embd, s.ffn());
                add(ts, p + "ffn_down.weight", Init.NORMAL, l, s.ffn(), embd);
            }
        }
        return List.copyOf(ts);
    }

    /**
     * One deepseek2 layer with the names, order and shapes of llama.cpp's converter (V3 with q-LoRA, attn_kv_b
     * split into per-head attn_k_b / attn_v_b): std 0.06 for the projections that set the attention scores (q_a,
     * q_b, kv_a, k_b), like attn_q/attn_k of the other shapes.
     */
    private void planDeepSeek2Layer(List<SynthTensor> ts, int l) {
        SynthShape s = shape;
        SynthShape.Mla a = s.mla();
        long embd = s.embd(), heads = s.heads(), q = a.qLoraRank(), r = a.kvLoraRank();
        long nope = s.headDim() - a.ropeDims();
        String p = "blk." + l + ".";
        add(ts, p + "attn_norm.weight", Init.NORM, l, embd);
        add(ts, p + "attn_q_a.weight", Init.NORMAL_QK, l, embd, q);
        add(ts, p + "attn_q_a_norm.weight", Init.NORM, l, q);
        add(ts, p + "attn_q_b.weight", Init.NORMAL_QK, l, q, heads * s.headDim());
        add(ts, p + "attn_kv_a_mqa.weight", Init.NORMAL_QK, l, embd, r + a.ropeDims());
        add(ts, p + "attn_kv_a_norm.weight", Init.NORM, l, r);
        add(ts, p + "attn_k_b.weight", Init.NORMAL_QK, l, nope, r, heads);
        add(ts, p + "attn_v_b.weight", Init.NORMAL, l, r, a.valueDim(), heads);
        add(ts, p + "attn_output.weight", Init.NORMAL, l, heads * a.valueDim(), embd);
        add(ts, p + "ffn_norm.weight", Init.NORM, l, embd);
        if (l < a.denseLayers()) {
            add(ts, p + "ffn_gate.weight", Init.NORMAL, l, embd, s.ffn());
            add(ts, p + "ffn_up.weight", Init.NORMAL, l, embd, s.ffn());
            add(ts, p + "ffn_down.weight", Init.NORMAL, l, s.ffn(), embd);
            return;
        }
        long experts = s.experts(), eff = s.expertFfn(), shared = eff * a.sharedExperts();
        add(ts, p + "ffn_gate_inp.weight", Init.ROUTER, l, embd, experts);
        add(ts, p + "ffn_gate_exps.weight", Init.NORMAL, l, embd, eff, experts);
        add(ts, p + "ffn_up_exps.weight", Init.NORMAL, l, embd, eff, experts);
        add(ts, p + "ffn_down_exps.weight", Init.NORMAL, l, eff, embd, experts);
        add(ts, p + "exp_probs_b.bias", Init.NORMAL, l, experts);
        add(ts, p + "ffn_gate_shexp.weight", Init.NORMAL, l, embd, shared);
        add(ts, p + "ffn_up_shexp.weight", Init.NORMAL, l, embd, shared);
        add(ts, p + "ffn_down_shexp.weight", Init.NORMAL, l, shared, embd);
    }

    private void add(List<SynthTensor> ts, String name, Init init, int layer, long... ne) {
        ts.add(new SynthTensor(name, ne, QuantRules.typeFor(name, ne, fileType, shape.layers(), shape.experts(), shape.heads() / shape.kvHeads()), init, layer));
    }

    /** Everything but the tensors: general.*, the architecture's hyper-parameters, tokenizer, synth settings. */
    public Map<String, GgufValue> metadata() {
        Map<String, GgufValue> m = new LinkedHashMap<>();
        SynthShape s = shape;
        String a = s.arch() + ".";
        m.put("general.architecture", GgufValue.ofString(s.arch()));
        m.put("general.name", GgufValue.ofString(s.name()));
        m.put("general.file_type", GgufValue.ofUInt32(fileType.fileTypeId));
        if (fileType.quantized()) m.put("general.quantization_version", GgufValue.ofUInt32(2)); // GGML_QNT_VERSION
        m.put(a + "vocab_size", GgufValue.ofUInt32(s.vocab()));
        m.put(a + "context_length", GgufValue.ofUInt32(s.ctx()));
        m.put(a + "embedding_length", GgufValue.ofUInt32(s.embd()));
        m.put(a + "block_count", GgufValue.ofUInt32(s.layers()));
        m.put(a + "feed_forward_length", GgufValue.ofUInt32(s.feedForwardLength()));
        m.put(a + "attention.head_count", GgufValue.ofUInt32(s.heads()));
        m.put(a + "attention.head_count_kv", GgufValue.ofUInt32(s.kvHeads()));
        m.put(a + "attention.layer_norm_rms_epsilon", GgufValue.ofFloat32(s.eps()));
        m.put(a + "rope.freq_base", GgufValue.ofFloat32(s.ropeBase()));
        if (s.deepseek2()) {
            putDeepSeek2(m, a);
        } else {
            // llama.cpp defaults key/value length to n_embd / n_head; qwen3moe files always state them
            if (s.arch().equals("qwen3moe") || s.headDim() * s.heads() != s.embd()) {
                m.put(a + "attention.key_length", GgufValue.ofUInt32(s.headDim()));
                m.put(a + "attention.value_length", GgufValue.ofUInt32(s.headDim()));
            }
            m.put(a + "rope.dimension_count", GgufValue.ofUInt32(s.headDim()));
            if (s.moe()) {
                m.put(a + "expert_count", GgufValue.ofUInt32(s.experts()));
                m.put(a + "expert_used_count", GgufValue.ofUInt32(s.expertsUsed()));
                if (s.arch().equals("qwen3moe")) m.put(a + "expert_feed_forward_length", GgufValue.ofUInt32(s.expertFfn()));
            }
        }
        m.putAll(tokenizer);
        m.put(KEY_SEED, GgufValue.ofUInt64(seed));
        m.put(KEY_SKEW, GgufValue.ofString(skew == null ? "none" : skew.describe()));
        return m;
    }

    /**
     * The deepseek2 hyper-parameters as llama.cpp's converter writes them for V3: MLA as MQA (one KV head) whose
     * absorbed key is latent + rope ({@code key_length}) and value the latent ({@code value_length}), the per-head
     * widths in {@code *_mla}; sigmoid gating (2) with renormalised weights and group-limited top-k.
     */
    private void putDeepSeek2(Map<String, GgufValue> m, String a) {
        SynthShape s = shape;
        SynthShape.Mla d = s.mla();
        m.put(a + "leading_dense_block_count", GgufValue.ofUInt32(d.denseLayers()));
        m.put(a + "attention.q_lora_rank", GgufValue.ofUInt32(d.qLoraRank()));
        m.put(a + "attention.kv_lora_rank", GgufValue.ofUInt32(d.kvLoraRank()));
        m.put(a + "attention.key_length", GgufValue.ofUInt32(d.kvLoraRank() + d.ropeDims()));
        m.put(a + "attention.value_length", GgufValue.ofUInt32(d.kvLoraRank()));
        m.put(a + "attention.key_length_mla", GgufValue.ofUInt32(s.headDim()));
        m.put(a + "attention.value_length_mla", GgufValue.ofUInt32(d.valueDim()));
        m.put(a + "rope.dimension_count", GgufValue.ofUInt32(d.ropeDims()));
        m.put(a + "expert_feed_forward_length", GgufValue.ofUInt32(s.expertFfn()));
        m.put(a + "expert_count", GgufValue.ofUInt32(s.experts()));
        m.put(a + "expert_used_count", GgufValue.ofUInt32(s.expertsUsed()));
        m.put(a + "expert_shared_count", GgufValue.ofUInt32(d.sharedExperts()));
        m.put(a + "expert_weights_scale", GgufValue.ofFloat32(d.weightsScale()));
        m.put(a + "expert_weights_norm", GgufValue.ofBool(true));
        m.put(a + "expert_gating_func", GgufValue.ofUInt32(2)); // LLAMA_EXPERT_GATING_FUNC_TYPE_SIGMOID
        m.put(a + "expert_group_count", GgufValue.ofUInt32(d.groups()));
        m.put(a + "expert_group_used_count", GgufValue.ofUInt32(d.groupsUsed()));
    }

    /** Writes the model to {@code out} with {@code threads} generating threads (the bytes do not depend on it). */
    public void write(Path out, int threads, Progress progress) throws IOException {
        if (threads < 1) throw new IllegalArgumentException("threads must be >= 1, got " + threads);
        GgufWriter w = new GgufWriter();
        metadata().forEach(w::put);
        long total = tensorBytes();
        long[] written = {0};
        ExecutorService exec = Executors.newFixedThreadPool(threads, r -> {
            Thread t = new Thread(r, "synth-worker");
            t.setDaemon(true);
            return t;
        });
        try {
            for (int i = 0; i < tensors.size(); i++) {
                SynthTensor t = tensors.get(i);
                int index = i;
                w.addTensor(t.name(), t.type(), t.ne(), (ch, byteSize) -> writeTensor(t, ch, exec, threads * 2, n -> {
                    written[0] += n;
                    if (progress != null) progress.update(index, tensors.size(), t.name(), written[0], total);
                }));
            }
            w.write(out);
        } finally {
            exec.shutdownNow();
        }
    }

    private interface Written {
        void bytes(long n);
    }

    /** Generates and quantizes the tensor's chunks on {@code exec}, at most {@code window} ahead, writing them in order. */
    private void writeTensor(SynthTensor t, WritableByteChannel ch, ExecutorService exec, int window, Written done) throws IOException {
        long chunks = t.chunks();
        ArrayDeque<Future<byte[]>> pending = new ArrayDeque<>();
        long next = 0;
        try {
            while (next < chunks || !pending.isEmpty()) {
                while (next < chunks && pending.size() < window) {
                    long c = next++;
                    pending.add(exec.submit(() -> chunkBytes(t, c)));
                }
                byte[] b = pending.removeFirst().get();
                ch.write(ByteBuffer.wrap(b));
                done.bytes(b.length);
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new InterruptedIOException("interrupted while writing " + t.name());
        } catch (ExecutionException e) {
            Throwable c = e.getCause();
            if (c instanceof RuntimeException re) throw re;
            if (c instanceof Error err) throw err;
            throw new IOException("generating " + t.name() + ": " + c, c);
        } finally {
            for (Future<byte[]> f : pending) f.cancel(true);
        }
    }

    /** Chunk {@code c} of tensor {@code t}, quantized. */
    byte[] chunkBytes(SynthTensor t, long c) {
        int ne0 = (int) t.ne()[0];
        long row0 = c * t.rowsPerChunk();
        int rows = (int) Math.min(t.rowsPerChunk(), t.rows() - row0);
        float[] v = new float[rows * ne0];
        fill(t, c, row0, rows, v);
        byte[] out = new byte[(int) t.type().bytesFor(v.length)];
        TensorFormat f = Formats.of(t.type());
        f.quantize(v, 0, v.length, MemorySegment.ofArray(out), 0);
        return out;
    }

    /** The float values of rows {@code [row0, row0 + rows)} of {@code t}, which form chunk {@code c}. */
    void fill(SynthTensor t, long c, long row0, int rows, float[] v) {
        SplittableRandom rnd = new SplittableRandom(mix(seed, t.name(), c));
        int ne0 = (int) t.ne()[0];
        switch (t.init()) {
            case NORM -> {
                for (int i = 0; i < v.length; i++) v[i] = (float) (1 + NORM_STD * rnd.nextGaussian());
            }
            case NORMAL, EMBEDDING -> gaussian(rnd, STD, v);
            case NORMAL_QK -> gaussian(rnd, STD_QK, v);
            case ROUTER -> gaussian(rnd, STD_ROUTER, v);
        }
        if (skew == null) return;
        switch (t.readsResidual()) {
            case EMBEDDING -> {
                for (int r = 0; r < rows; r++) v[r * ne0 + massiveDim] = massiveValue;
            }
            case ROUTER -> {
                for (int r = 0; r < rows; r++) v[r * ne0 + massiveDim] = routerBias[t.layer()][(int) (row0 + r)];
            }
            case READS -> {
                for (int r = 0; r < rows; r++) v[r * ne0 + massiveDim] = 0;
            }
            case WRITES -> {
                long outRows = t.ne()[1];
                for (int r = 0; r < rows; r++) if ((row0 + r) % outRows == massiveDim) Arrays.fill(v, r * ne0, (r + 1) * ne0, 0f);
            }
            case NONE -> {}
        }
    }

    private static void gaussian(SplittableRandom rnd, float std, float[] v) {
        for (int i = 0; i < v.length; i++) v[i] = (float) (std * rnd.nextGaussian());
    }

    private static int[] permutation(int n, SplittableRandom rnd) {
        int[] p = new int[n];
        for (int i = 0; i < n; i++) p[i] = i;
        for (int i = n - 1; i > 0; i--) {
            int j = rnd.nextInt(i + 1);
            int tmp = p[i];
            p[i] = p[j];
            p[j] = tmp;
        }
        return p;
    }

    /** A 64-bit seed from the model seed, a name and an index (FNV-1a over the name, then SplitMix64 finalizer). */
    static long mix(long seed, String name, long index) {
        long h = 0xcbf29ce484222325L;
        for (byte b : name.getBytes(StandardCharsets.UTF_8)) h = (h ^ (b & 0xff)) * 0x100000001b3L;
        long z = seed * 0x9E3779B97F4A7C15L ^ h ^ index * 0xC2B2AE3D27D4EB4FL;
        z = (z ^ (z >>> 30)) * 0xBF58476D1CE4E5B9L;
        z = (z ^ (z >>> 27)) * 0x94D049BB133111EBL;
        return z ^ (z >>> 31);
    }
}
