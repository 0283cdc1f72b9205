package io.moeflow.model;

import io.moeflow.gguf.Architectures;
import io.moeflow.gguf.GgufFile;
import io.moeflow.model.blocks.Rope;

/**
 * Hyper-parameters of a decoder-only transformer, read from GGUF metadata keys {@code <arch>.*} as llama.cpp
 * names them. Head dimensions default to {@code n_embd / n_head}; the vocabulary size falls back to the
 * token embedding's row count (llama2.c conversions store no {@code vocab_size}).
 *
 * <p>{@code layers} are the decoder blocks; the last {@code nextnLayers} of the file's {@code block_count} blocks
 * are multi-token-prediction blocks ({@code nextn_predict_layers}, DeepSeek-V3/R1, GLM-4.7-Flash) that decoding
 * skips, as llama.cpp does.
 *
 * <p>RoPE scaling follows llama.cpp's context set-up: {@code ropeScaling} is {@code rope.scaling.type} (none,
 * linear, yarn or longrope; linear when absent, as in llama.cpp); {@code ropeScale} is the frequency scale
 * ({@code 1 / rope.scaling.factor}, 1 without a factor or with type none); for YaRN, {@code yarn} carries ggml's
 * ext/attn factors and {@code yarnLogMul} the (deepseek2: un-scaled) {@code rope.scaling.yarn_log_multiplier}.
 * {@code ropeOrigContext} is {@code rope.scaling.original_context_length} (the context length when absent): LongRoPE
 * takes its long factors when the context served is longer.
 */
public record DecoderConfig(String arch, int vocabSize, int contextLength, int embeddingLength, int layers,
                            int heads, int kvHeads, int keyLength, int valueLength, int ropeDims,
                            float ropeBase, float ropeScale, boolean ropeNeox, float rmsEps,
                            int ffnLength, int expertCount, int expertUsedCount, int expertFfnLength,
                            Rope.Yarn yarn, float yarnLogMul, int nextnLayers, String ropeScaling, int ropeOrigContext) {
    /** The rope.scaling.type values llama.cpp knows (llama_rope_scaling_type_from_string). */
    public static final java.util.Set<String> ROPE_SCALING_TYPES = java.util.Set.of("none", "linear", "yarn", "longrope");
    /** Architectures whose llama.cpp graph applies attention.temperature_scale (among the supported ones). */
    static final java.util.Set<String> TEMPERATURE_ARCHITECTURES = java.util.Set.of("deepseek2");

    public static DecoderConfig read(GgufFile f, boolean ropeNeox) {
        String a = f.architecture();
        int embd = f.getInt(a + ".embedding_length");
        int heads = f.getInt(a + ".attention.head_count");
        int kvHeads = f.getInt(a + ".attention.head_count_kv", heads);
        int keyLength = f.getInt(a + ".attention.key_length", embd / heads);
        int valueLength = f.getInt(a + ".attention.value_length", keyLength);
        int vocab = f.getInt(a + ".vocab_size", (int) f.tensor("token_embd.weight").ne()[1]);
        int context = f.getInt(a + ".context_length", 2048);

        String scaling = f.getString(a + ".rope.scaling.type", "linear");
        int origContext = f.getInt(a + ".rope.scaling.original_context_length", context);
        if (!ROPE_SCALING_TYPES.contains(scaling))
            throw new IllegalArgumentException(a + ": " + a + ".rope.scaling.type '" + scaling + "' is not supported (supported: "
                    + String.join(", ", new java.util.TreeSet<>(ROPE_SCALING_TYPES)) + ")");
        if (!TEMPERATURE_ARCHITECTURES.contains(a) && f.getFloat(a + ".attention.temperature_scale", 0f) != 0f)
            throw new IllegalArgumentException(a + ": " + a + ".attention.temperature_scale is set, but llama.cpp's " + a
                    + " loader does not read it (only deepseek2's among the supported ones; llama4's temperature is fixed); refusing rather than ignoring it");
        float factor = f.getFloat(a + ".rope.scaling.factor", f.getFloat(a + ".rope.scale_linear", 0f));
        float freqScale = scaling.equals("none") || factor == 0f ? 1f : 1f / factor;
        float logMul = f.getFloat(a + ".rope.scaling.yarn_log_multiplier", 0f);
        // llama.cpp cancels the 0.1 that convert_hf_to_gguf.py multiplies into DeepSeek's mscale_all_dim.
        if (a.equals("deepseek2")) logMul /= 0.1f;
        Rope.Yarn yarn = Rope.Yarn.NONE;
        float attnFactor = 1f;
        if (scaling.equals("yarn")) {
            float f1 = 1f / freqScale;
            if (logMul != 0f) {
                // deepseek2 uses mscale = mscale_all_dim, so the ratio is 1 there; others assume mscale 1.
                float mscale = a.equals("deepseek2") && logMul != 1f ? logMul : 1f;
                attnFactor = yarnMscale(f1, mscale) / yarnMscale(f1, logMul);
            } else {
                attnFactor = yarnMscale(f1, 1f);
            }
            // ggml's rope multiplies by (1 + 0.1 ln factor) again when YaRN is on: cancel it here.
            attnFactor *= 1f / (1f + 0.1f * (float) Math.log(f1));
        }
        attnFactor *= f.getFloat(a + ".rope.scaling.attn_factor", 1f);
        if (scaling.equals("yarn"))
            yarn = new Rope.Yarn(1f, attnFactor, f.getFloat(a + ".rope.scaling.yarn_beta_fast", 32f),
                    f.getFloat(a + ".rope.scaling.yarn_beta_slow", 1f), origContext);
        else if (attnFactor != 1f)
            yarn = new Rope.Yarn(0f, attnFactor, 32f, 1f, context);

        int nextn = Architectures.nextnLayers(f);
        int nExpert = f.getInt(a + ".expert_count", 0);
        int ffn = f.getInt(a + ".feed_forward_length", 0);
        return new DecoderConfig(a, vocab, context, embd,
                f.getInt(a + ".block_count") - nextn, heads, kvHeads, keyLength, valueLength,
                f.getInt(a + ".rope.dimension_count", keyLength), f.getFloat(a + ".rope.freq_base", 10000f), freqScale,
                ropeNeox, f.getFloat(a + ".attention.layer_norm_rms_epsilon", 1e-5f), ffn, nExpert,
                f.getInt(a + ".expert_used_count", 0), f.getInt(a + ".expert_feed_forward_length", ffn), yarn, logMul, nextn, scaling, origContext);
    }

    /** YaRN's magnitude correction {@code 0.1 * mscale * ln(scale) + 1} (1 when not extending). */
    static float yarnMscale(float scale, float mscale) {
        return scale <= 1f ? 1f : 0.1f * mscale * (float) Math.log(scale) + 1f;
    }

    /** The RoPE of this model over {@code dims} values per head. */
    public Rope rope(int dims, boolean neox, float[] freqFactors) {
        return new Rope(dims, ropeBase, ropeScale, neox, freqFactors, yarn);
    }

    /** The RoPE of this model over {@link #ropeDims} values per head, in its own layout. */
    public Rope rope() {
        return rope(ropeDims, ropeNeox, null);
    }

    public int qDim() { return heads * keyLength; }

    public int kvDim() { return kvHeads * keyLength; }

    public int vDim() { return kvHeads * valueLength; }
}
