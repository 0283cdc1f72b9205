package io.moeflow.model.arch;

import io.moeflow.gguf.GgufFile;
import io.moeflow.gguf.GgufTensor;
import io.moeflow.kernels.WorkerPool;
import io.moeflow.model.DecoderConfig;
import io.moeflow.model.DecoderModel;
import io.moeflow.model.blocks.Attention;
import io.moeflow.model.blocks.FeedForward;
import io.moeflow.model.blocks.MoeFfn;
import io.moeflow.model.blocks.Rope;
import io.moeflow.model.blocks.SwiGlu;

/**
 * What the DeepSeek-V3-style GQA architectures (glm4moe, dots1) share: GQA attention with optional q/k/v biases
 * and per-head q/k RMSNorm, {@code leading_dense_block_count} dense SwiGLU layers, then MoE layers whose routing
 * llama.cpp's build_moe_ffn runs from the file's keys ({@code expert_gating_func}, {@code expert_weights_norm},
 * {@code expert_weights_scale}, {@code expert_group_count}/{@code _used_count}, the {@code exp_probs_b} selection
 * bias) plus {@code expert_shared_count} shared experts of {@code expert_shared_count x expert_feed_forward_length}
 * added unscaled.
 */
abstract class SharedExpertMoeModel extends DecoderModel {
    protected SharedExpertMoeModel(GgufFile f, WorkerPool pool) {
        super(f, DecoderConfig.read(f, true), pool);
        var c = config;
        if (c.valueLength() != c.keyLength())
            throw new IllegalArgumentException(c.arch() + ": " + c.arch() + ".attention.value_length " + c.valueLength()
                    + " differs from key_length " + c.keyLength() + "; llama.cpp's " + c.arch() + " graph asserts they are equal");
        if (c.ropeDims() > c.keyLength())
            throw new IllegalArgumentException(c.arch() + ": " + c.arch() + ".rope.dimension_count " + c.ropeDims()
                    + " exceeds the head dimension " + c.keyLength());
    }

    /**
     * The router's gating from {@code expert_gating_func} as build_moe_ffn applies it: 1 softmax, 2 sigmoid, 3 softmax
     * over the selected logits; {@code absent} when the key is missing or 0 (null: refuse, as llama.cpp aborts).
     */
    protected final MoeFfn.Gating gating(MoeFfn.Gating absent) {
        String key = config.arch() + ".expert_gating_func";
        int func = gguf.getInt(key, 0);
        if (func == 0) {
            if (absent == null) throw new IllegalArgumentException(config.arch() + ": " + key + " is missing; llama.cpp has no default for " + config.arch());
            return absent;
        }
        return switch (func) {
            case 1 -> MoeFfn.Gating.SOFTMAX;
            case 2 -> MoeFfn.Gating.SIGMOID;
            case 3 -> MoeFfn.Gating.SOFTMAX_SELECTED;
            default -> throw new IllegalArgumentException(config.arch() + ": " + key + " = " + func
                    + " is not supported (1 softmax, 2 sigmoid, 3 softmax over the selected)");
        };
    }

    /** build_moe_ffn's routing options from the file's keys (groups apply to every architecture in llama.cpp). */
    protected final MoeFfn.Options routing(MoeFfn.Gating gating) {
        String a = config.arch();
        return MoeFfn.Options.of(gating, gguf.getBool(a + ".expert_weights_norm", false), gguf.getFloat(a + ".expert_weights_scale", 0f))
                .withGroups(gguf.getInt(a + ".expert_group_count", 0), gguf.getInt(a + ".expert_group_used_count", 0));
    }

    /**
     * GQA attention of {@code layer} over {@code attn_q/k/v/output}, with their biases where the file has them (all
     * four when {@code outputBias}, else q/k/v only) and per-head {@code attn_q_norm}/{@code attn_k_norm}
     * (required or optional as {@code qkNormRequired} says).
     */
    protected final Attention gqa(int layer, Rope rope, boolean outputBias, boolean qkNormRequired) {
        var c = config;
        float[] qNorm = qkNormRequired ? norm(layer, "attn_q_norm") : optionalNorm(layer, "attn_q_norm");
        float[] kNorm = qkNormRequired ? norm(layer, "attn_k_norm") : optionalNorm(layer, "attn_k_norm");
        if ((qNorm == null) != (kNorm == null))
            throw new IllegalArgumentException(c.arch() + ": blk." + layer + " has only one of attn_q_norm and attn_k_norm");
        Attention.Options opt = Attention.Options.NONE
                .withBiases(bias(layer, "attn_q"), bias(layer, "attn_k"), bias(layer, "attn_v"), outputBias ? bias(layer, "attn_output") : null)
                .withQkNorm(qNorm, kNorm, Attention.NormScope.PER_HEAD);
        return new Attention(t(layer, "attn_q").matrix(), t(layer, "attn_k").matrix(), t(layer, "attn_v").matrix(),
                t(layer, "attn_output").matrix(), opt, c.heads(), c.kvHeads(), c.keyLength(), c.valueLength(), c.rmsEps(), rope);
    }

    /** The dense SwiGLU {@code ffn_{gate,up,down}<suffix>} of a layer. */
    protected final SwiGlu swiGlu(int layer, String suffix) {
        return new SwiGlu(t(layer, "ffn_gate" + suffix).matrix(), t(layer, "ffn_up" + suffix).matrix(), t(layer, "ffn_down" + suffix).matrix());
    }

    /**
     * The MoE FFN of {@code layer}: routed experts with the {@code exp_probs_b} selection bias (required or optional),
     * plus the shared experts ({@code ffn_*_shexp}, {@code sharedCount x expert_feed_forward_length} wide) when
     * {@code sharedCount > 0}.
     */
    protected final MoeFfn moe(int layer, MoeFfn.Options routing, boolean selectionBiasRequired, int sharedCount) {
        var c = config;
        float[] selectionBias = bias(layer, "exp_probs_b");
        if (selectionBias == null && selectionBiasRequired)
            throw new IllegalArgumentException(c.arch() + ": tensor blk." + layer + ".exp_probs_b.bias is missing (llama.cpp requires it for " + c.arch() + ")");
        FeedForward shared = null;
        if (sharedCount > 0) {
            GgufTensor gate = t(layer, "ffn_gate_shexp");
            if (gate.ne(1) != (long) sharedCount * c.expertFfnLength())
                throw new IllegalArgumentException(c.arch() + ": tensor " + gate.name() + " has " + gate.ne(1) + " rows, expected expert_shared_count "
                        + sharedCount + " x expert_feed_forward_length " + c.expertFfnLength());
            shared = swiGlu(layer, "_shexp");
        }
        return new MoeFfn(t(layer, "ffn_gate_inp").matrix(), routedExperts(layer, false, false), c.expertUsedCount(),
                routing.withSelectionBias(selectionBias), shared);
    }
}
