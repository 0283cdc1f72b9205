package io.moeflow.model.arch;

import io.moeflow.gguf.GgufFile;
import io.moeflow.gguf.GgufValue;
import io.moeflow.gguf.GgufValueType;
import io.moeflow.kernels.WorkerPool;
import io.moeflow.model.blocks.Attention;
import io.moeflow.model.blocks.AttentionTemperature;
import io.moeflow.model.blocks.FeedForward;
import io.moeflow.model.blocks.MoeFfn;
import io.moeflow.model.blocks.Rope;
import java.util.Arrays;

/**
 * {@code llama4} (Llama-4 Scout 17B-16E, Maverick 17B-128E; llama.cpp's src/models/llama4.cpp, build_moe_ffn in
 * src/llama-graph.cpp): GQA attention with normal RoPE over the whole head and the optional Llama-3
 * {@code rope_freqs}; every 4th layer ({@code (il + 1) % 4 == 0}) is a NoPE layer: no RoPE, and the query is
 * multiplied by the temperature {@code log(floor((pos + 1) / 8192) + 1) * 0.1 + 1}; on the RoPE layers q and k get
 * a weightless RMSNorm after RoPE (Llama4TextL2Norm) unless the model has 128 experts (llama.cpp's use_kq_norm: off
 * for Maverick). Layers {@code il % p < p - 1} ({@code p = attention.sliding_window_pattern}, 4 when absent: three
 * chunked, one full) attend only within their chunk of 8192 positions (LLAMA_SWA_TYPE_CHUNKED), with
 * {@code rope.freq_base_swa} as their RoPE base where the file has one. The FFN is MoE where {@code (il + 1) %
 * interleave_moe_layer_step == 0}, else dense SwiGLU: sigmoid router, top-k on the probabilities, no
 * renormalisation, each weight multiplying its expert's INPUT (weight_before_ffn), plus one shared expert of
 * {@code expert_feed_forward_length}.
 *
 * <p>llama.cpp fixes the chunk size, the temperature and the NoPE step in code; no key carries them. Its loader reads
 * none of the routing keys ({@code expert_gating_func}, {@code expert_weights_norm}/{@code _scale}), nor
 * {@code attention.scale} or {@code leading_dense_block_count}: a file that sets one to a value the graph contradicts
 * is refused naming it, as is {@code attention.sliding_window} 0 (MobileLLM's no-chunk switch, for which llama.cpp
 * sets no temperature and aborts) or another value than 8192 (which llama.cpp overrides).
 */
public final class Llama4Model extends SharedExpertMoeModel {
    /**
     * The constants llama.cpp fixes for llama4: chunks of {@code chunkSize} positions on the chunked layers, and the
     * temperature's position step {@code temperatureFloor} (n_attn_temp_floor_scale). {@link #LLAMA_CPP} is what a file
     * is run with; tests pass smaller values so that a short sequence crosses chunks and temperature steps.
     */
    public record Tuning(int chunkSize, int temperatureFloor) {
        public static final Tuning LLAMA_CPP = new Tuning(8192, 8192);

        public Tuning {
            if (chunkSize < 1 || temperatureFloor < 1)
                throw new IllegalArgumentException("llama4 chunk size " + chunkSize + " and temperature floor " + temperatureFloor + " must be positive");
        }
    }

    /** f_attn_temp_scale and f_attn_temp_offset of llama.cpp's llama4 loader. */
    static final float TEMPERATURE_SCALE = 0.1f, TEMPERATURE_OFFSET = 1f;
    /** n_no_rope_layer_step (llama-hparams.h) and the chunked-layer period when the file has none. */
    static final int NO_ROPE_LAYER_STEP = 4, DEFAULT_CHUNK_PERIOD = 4;
    /** llama.cpp's LLM_TYPE_17B_128E (Maverick), the one type without q/k L2 norm. */
    static final int MAVERICK_EXPERTS = 128;

    public Llama4Model(GgufFile f, WorkerPool pool) {
        this(f, pool, Tuning.LLAMA_CPP);
    }

    public Llama4Model(GgufFile f, WorkerPool pool, Tuning tuning) {
        super(f, pool, false);
        var c = config;
        String a = c.arch();
        requireRopeOverTheWholeHead();
        if (c.expertCount() == 0)
            throw new IllegalArgumentException(a + ": " + a + ".expert_count is 0; llama.cpp's llama4 loader refuses a model without experts");
        int step = requiredInt(a + ".interleave_moe_layer_step");
        int expertFfn = requiredInt(a + ".expert_feed_forward_length");
        refuseKeysTheGraphContradicts(expertFfn);
        int period = chunkPeriod();

        float[] freqs = f.findTensor("rope_freqs.weight").map(t -> t.toFloats()).orElse(null);
        if (freqs != null && freqs.length != c.ropeDims() / 2)
            throw new IllegalArgumentException(a + ": rope_freqs.weight has " + freqs.length + " values, expected " + c.ropeDims() / 2);
        Rope full = c.rope(c.ropeDims(), false, freqs);
        float chunkBase = f.getFloat(a + ".rope.freq_base_swa", c.ropeBase());
        Rope chunked = chunkBase == c.ropeBase() ? full : new Rope(c.ropeDims(), chunkBase, c.ropeScale(), false, freqs, c.yarn());
        Rope none = c.rope(0, false, null);
        // Llama4TextL2Norm is ggml_rms_norm without a weight: a weight of ones gives the same floats.
        float[] ones = new float[c.keyLength()];
        Arrays.fill(ones, 1f);
        boolean kqNorm = c.expertCount() != MAVERICK_EXPERTS;
        AttentionTemperature temperature = new AttentionTemperature(TEMPERATURE_SCALE, tuning.temperatureFloor(), TEMPERATURE_OFFSET);
        MoeFfn.Options routing = routing(MoeFfn.Gating.SIGMOID, false, 0f).withWeightBeforeFfn();

        Layer[] layers = new Layer[c.layers()];
        for (int l = 0; l < layers.length; l++) {
            boolean isChunked = period == 0 || l % period < period - 1;
            boolean useRope = (l + 1) % NO_ROPE_LAYER_STEP != 0;
            Attention.Options o = Attention.Options.NONE;
            if (isChunked) o = o.withChunk(tuning.chunkSize());
            if (useRope && kqNorm) o = o.withQkNorm(ones, ones, Attention.NormScope.PER_HEAD_AFTER_ROPE);
            if (!useRope) o = o.withTemperature(temperature);
            Rope rope = !useRope ? none : isChunked ? chunked : full;
            boolean moe = step > 0 && (l + 1) % step == 0;
            FeedForward ffn = moe ? moe(l, routing, SelectionBias.NONE, false, expertFfn, a + ".expert_feed_forward_length") : swiGlu(l, "");
            layers[l] = new Layer(norm(l, "attn_norm"), attention(l, o, rope, Qkv.LLAMA_CPP, false), norm(l, "ffn_norm"), ffn);
        }
        setLayers(layers);
    }

    private int requiredInt(String key) {
        if (!gguf.has(key)) throw new IllegalArgumentException(config.arch() + ": " + key + " is missing; llama.cpp's llama4 loader requires it");
        return gguf.getInt(key);
    }

    /** {@code attention.sliding_window_pattern} as llama.cpp's set_swa_pattern takes it (a period; 0: every layer chunked). */
    private int chunkPeriod() {
        String a = config.arch(), key = a + ".attention.sliding_window_pattern";
        GgufValue v = gguf.metadata().get(key);
        if (v == null) return DEFAULT_CHUNK_PERIOD;
        if (v.type() == GgufValueType.ARRAY)
            throw new IllegalArgumentException(a + ": " + key + " is a per-layer array; llama.cpp's llama4 loader takes a period (layers il % p < p - 1 chunked)");
        int p = gguf.getInt(key);
        if (p < 0) throw new IllegalArgumentException(a + ": " + key + " = " + p + " must not be negative");
        return p;
    }

    private void refuseKeysTheGraphContradicts(int expertFfn) {
        String a = config.arch();
        int window = gguf.getInt(a + ".attention.sliding_window", Tuning.LLAMA_CPP.chunkSize());
        if (window == 0)
            throw new IllegalArgumentException(a + ": " + a + ".attention.sliding_window is 0 (no chunked attention, MobileLLM's switch); llama.cpp's llama4"
                    + " then sets no attention temperature for its last layer and aborts, so moeflow refuses the file");
        if (window != Tuning.LLAMA_CPP.chunkSize())
            throw new IllegalArgumentException(a + ": " + a + ".attention.sliding_window = " + window + ", but llama.cpp's llama4 always attends in chunks of "
                    + Tuning.LLAMA_CPP.chunkSize() + " (it overrides the key); refusing rather than ignoring it");
        refuseUnless(a + ".expert_gating_func", gguf.getInt(a + ".expert_gating_func", 2) == 2, "its graph routes with a sigmoid (2)");
        refuseUnless(a + ".expert_weights_norm", !gguf.getBool(a + ".expert_weights_norm", false), "its graph does not renormalise the weights");
        float scale = gguf.getFloat(a + ".expert_weights_scale", 0f);
        refuseUnless(a + ".expert_weights_scale", scale == 0f || scale == 1f, "its graph does not scale the weights");
        refuseUnless(a + ".attention.scale", gguf.getFloat(a + ".attention.scale", 0f) == 0f, "its graph scales the scores by 1/sqrt(head_dim)");
        refuseUnless(a + ".leading_dense_block_count", gguf.getInt(a + ".leading_dense_block_count", 0) == 0,
                "its layers are MoE or dense by interleave_moe_layer_step alone");
        refuseUnless(a + ".expert_shared_count", gguf.getInt(a + ".expert_shared_count", 1) == 1, "its graph has exactly one shared expert");
        refuseUnless(a + ".expert_shared_feed_forward_length", gguf.getInt(a + ".expert_shared_feed_forward_length", expertFfn) == expertFfn,
                "its shared expert is expert_feed_forward_length wide");
    }

    private void refuseUnless(String key, boolean ok, String why) {
        if (!ok)
            throw new IllegalArgumentException(config.arch() + ": " + key + " = " + gguf.metadata().get(key) + " is not what llama.cpp's llama4 computes ("
                    + why + "; its loader does not read the key); refusing rather than ignoring it");
    }
}
