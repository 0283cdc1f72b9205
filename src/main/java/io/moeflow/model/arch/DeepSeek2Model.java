package io.moeflow.model.arch;

import io.moeflow.gguf.GgufFile;
import io.moeflow.kernels.WorkerPool;
import io.moeflow.model.DecoderConfig;
import io.moeflow.model.DecoderModel;
import io.moeflow.model.blocks.AttentionTemperature;
import io.moeflow.model.blocks.FeedForward;
import io.moeflow.model.blocks.MlaAttention;
import io.moeflow.model.blocks.MoeFfn;
import io.moeflow.model.blocks.Rope;
import io.moeflow.model.blocks.SwiGlu;

/**
 * {@code deepseek2} (DeepSeek-V2, V2-Lite, V3, R1): multi-head latent attention (absorbed, with or without
 * q-LoRA) whose cache holds only the latent and the rope part; {@code leading_dense_block_count} dense SwiGLU
 * layers, then MoE layers with shared experts: softmax gating (V2) or sigmoid gating with the
 * {@code exp_probs_b} selection bias and group-limited top-k (V3), optional renormalisation and
 * {@code expert_weights_scale}. Normal (GPT-J) RoPE, YaRN as llama.cpp applies it (mscale^2 in the score scale).
 */
public final class DeepSeek2Model extends DecoderModel {
    private final int cacheDim;

    public DeepSeek2Model(GgufFile f, WorkerPool pool) {
        super(f, DecoderConfig.read(f, false), pool);
        var c = config;
        String a = c.arch();
        int rank = f.getInt(a + ".attention.kv_lora_rank");
        int dk = f.getInt(a + ".attention.key_length_mla", c.keyLength());
        int ropeDims = c.ropeDims();
        int nope = dk - ropeDims;
        int dense = f.getInt(a + ".leading_dense_block_count", 0);
        MoeFfn.Options routing = MoeFfn.Options.of(gating(f), f.getBool(a + ".expert_weights_norm", false),
                        f.getFloat(a + ".expert_weights_scale", 1f))
                .withGroups(f.getInt(a + ".expert_group_count", 0), f.getInt(a + ".expert_group_used_count", 0));
        AttentionTemperature temperature = new AttentionTemperature(f.getFloat(a + ".attention.temperature_scale", 0f),
                f.getInt(a + ".attention.temperature_length", 0), 0f);

        float scale = scoreScale(c, dk);
        Rope rope = c.rope();

        Layer[] layers = new Layer[c.layers()];
        for (int l = 0; l < layers.length; l++) {
            if (!has(l, "attn_k_b"))
                throw new IllegalArgumentException("deepseek2: tensor blk." + l + ".attn_k_b.weight is missing; files with only attn_kv_b"
                        + " predate the MLA split; reconvert with a current convert_hf_to_gguf.py");
            boolean qLora = !has(l, "attn_q");
            MlaAttention attn = new MlaAttention(qLora ? null : t(l, "attn_q").matrix(),
                    qLora ? t(l, "attn_q_a").matrix() : null, qLora ? norm(l, "attn_q_a_norm") : null,
                    qLora ? t(l, "attn_q_b").matrix() : null,
                    t(l, "attn_kv_a_mqa").matrix(), norm(l, "attn_kv_a_norm"), slices(l, "attn_k_b"), slices(l, "attn_v_b"),
                    t(l, "attn_output").matrix(), nope, ropeDims, c.rmsEps(), scale, rope, scale(l, "attn_output"), temperature);
            FeedForward ffn;
            if (l < dense) {
                ffn = new SwiGlu(t(l, "ffn_gate").matrix(), t(l, "ffn_up").matrix(), t(l, "ffn_down").matrix());
            } else {
                float[] selectionBias = bias(l, "exp_probs_b");
                FeedForward shared = has(l, "ffn_gate_shexp")
                        ? new SwiGlu(t(l, "ffn_gate_shexp").matrix(), t(l, "ffn_up_shexp").matrix(), t(l, "ffn_down_shexp").matrix())
                        : null;
                ffn = new MoeFfn(t(l, "ffn_gate_inp").matrix(), routedExperts(l, true, false), c.expertUsedCount(),
                        routing.withSelectionBias(selectionBias), shared);
            }
            if (attn.cacheDim() != rank + ropeDims)
                throw new IllegalArgumentException("deepseek2: blk." + l + ".attn_kv_a_mqa gives " + attn.cacheDim()
                        + " latent+rope values, metadata says kv_lora_rank " + rank + " + rope " + ropeDims);
            layers[l] = new Layer(norm(l, "attn_norm"), attn, norm(l, "ffn_norm"), ffn);
        }
        this.cacheDim = rank + ropeDims;
        setLayers(layers);
    }

    /**
     * The router's gating as llama.cpp's deepseek2 loader decides it from {@code expert_gating_func}: 1 softmax,
     * 2 sigmoid (V3), 3 softmax over the selected logits, 4 sqrt(softplus) (gguf-py's SQRTSOFTPLUS). Absent or 0:
     * the older V2/V2.5 files, softmax; except GLM-4.7-Lite ({@code block_count} 47 or 48 with a vocabulary of
     * 154880), sigmoid.
     */
    public static MoeFfn.Gating gating(GgufFile f) {
        String a = f.architecture();
        int func = f.getInt(a + ".expert_gating_func", 0);
        if (func == 0) {
            int blocks = f.getInt(a + ".block_count"); // llama.cpp decides before it subtracts the nextn blocks
            String[] tokens = f.has(a + ".vocab_size") ? null : f.getStringArray("tokenizer.ggml.tokens");
            long vocab = f.has(a + ".vocab_size") ? f.getLong(a + ".vocab_size") : tokens == null ? 0 : tokens.length;
            return (blocks == 47 || blocks == 48) && vocab == 154880 ? MoeFfn.Gating.SIGMOID : MoeFfn.Gating.SOFTMAX;
        }
        return switch (func) {
            case 1 -> MoeFfn.Gating.SOFTMAX;
            case 2 -> MoeFfn.Gating.SIGMOID;
            case 3 -> MoeFfn.Gating.SOFTMAX_SELECTED;
            case 4 -> MoeFfn.Gating.SQRT_SOFTPLUS;
            default -> throw new IllegalArgumentException(a + ": " + a + ".expert_gating_func = " + func
                    + " is not supported (1 softmax, 2 sigmoid, 3 softmax over the selected, 4 sqrt-softplus)");
        };
    }

    /**
     * The attention score scale as llama.cpp's deepseek2 graph computes it: undo the context's YaRN attn_factor
     * adjustment, then {@code mscale^2 / sqrt(keyLength)} with {@code mscale = 1 + 0.1 * mscale_all_dim * ln(factor)}
     * ({@code 1/sqrt(keyLength)} without scaling).
     */
    public static float scoreScale(DecoderConfig c, int keyLength) {
        float lnFactor = (float) Math.log(1f / c.ropeScale());
        float attnFactorOrg = c.yarn().attnFactor() * (1f + 0.1f * lnFactor);
        float mscale = attnFactorOrg * (1f + 0.1f * c.yarnLogMul() * lnFactor);
        return mscale * mscale / (float) Math.sqrt(keyLength);
    }

    /** The MLA cache: latent and rope part per token and layer, no separate value. */
    @Override
    protected int kvKeyDim() {
        return cacheDim;
    }

    @Override
    protected int kvValueDim() {
        return 0;
    }
}
