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
 * What the GQA architectures with DeepSeek-style experts (glm4moe, dots1, ernie4_5-moe, bailingmoe2, hunyuan-moe, granitemoe) share (and llama4 builds on): GQA attention with
 * optional q/k/v biases and per-head q/k RMSNorm, leading dense SwiGLU layers, then MoE layers routed as llama.cpp's
 * build_moe_ffn does ({@code expert_gating_func}, {@code expert_weights_norm}, {@code expert_weights_scale},
 * {@code expert_group_count}/{@code _used_count}, the {@code exp_probs_b} selection bias) plus shared experts
 * ({@code ffn_*_shexp}) added unscaled.
 */
abstract class SharedExpertMoeModel extends DecoderModel {
    /**
     * Whether a layer's per-head {@code attn_q_norm}/{@code attn_k_norm} are required (applied before RoPE, or after
     * it as in hunyuan-moe), optional or not loaded at all.
     */
    protected enum QkNorm { REQUIRED, REQUIRED_AFTER_ROPE, OPTIONAL, NONE }

    /** Whether a MoE layer's {@code exp_probs_b} selection bias is required, optional or not loaded at all. */
    protected enum SelectionBias { REQUIRED, OPTIONAL, NONE }

    protected SharedExpertMoeModel(GgufFile f, WorkerPool pool, boolean ropeNeox) {
        super(f, DecoderConfig.read(f, ropeNeox), pool);
        var c = config;
        if (c.valueLength() != c.keyLength())
            throw new IllegalArgumentException(c.arch() + ": " + c.arch() + ".attention.value_length " + c.valueLength()
                    + " differs from key_length " + c.keyLength() + "; llama.cpp's " + c.arch() + " graph asserts they are equal");
        if (c.ropeDims() > c.keyLength())
            throw new IllegalArgumentException(c.arch() + ": " + c.arch() + ".rope.dimension_count " + c.ropeDims()
                    + " exceeds the head dimension " + c.keyLength());
    }

    /** Refuses partial RoPE where the architecture's llama.cpp graph asserts {@code n_rot == head_dim}. */
    protected final void requireRopeOverTheWholeHead() {
        var c = config;
        if (c.ropeDims() != c.keyLength())
            throw new IllegalArgumentException(c.arch() + ": " + c.arch() + ".rope.dimension_count " + c.ropeDims() + " differs from the head dimension "
                    + c.keyLength() + "; llama.cpp's " + c.arch() + " graph asserts they are equal");
    }

    /**
     * The router's gating from {@code expert_gating_func} as build_moe_ffn applies it: 1 softmax, 2 sigmoid, 3 softmax
     * over the selected logits, 4 sqrt(softplus); {@code absent} when the key is missing or 0 (null: refuse, as llama.cpp aborts).
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
            case 4 -> MoeFfn.Gating.SQRT_SOFTPLUS;
            default -> throw new IllegalArgumentException(config.arch() + ": " + key + " = " + func
                    + " is not supported (1 softmax, 2 sigmoid, 3 softmax over the selected, 4 sqrt-softplus)");
        };
    }

    /** build_moe_ffn's routing options from the file's keys (groups apply to every architecture in llama.cpp). */
    protected final MoeFfn.Options routing(MoeFfn.Gating gating) {
        String a = config.arch();
        return routing(gating, gguf.getBool(a + ".expert_weights_norm", false), gguf.getFloat(a + ".expert_weights_scale", 0f));
    }

    /** Routing with the given renormalisation and weight scale (0 or 1: none), and the file's expert groups. */
    protected final MoeFfn.Options routing(MoeFfn.Gating gating, boolean normalize, float weightScale) {
        String a = config.arch();
        return MoeFfn.Options.of(gating, normalize, weightScale)
                .withGroups(gguf.getInt(a + ".expert_group_count", 0), gguf.getInt(a + ".expert_group_used_count", 0));
    }

    /**
     * GQA attention of {@code layer} as llama.cpp's create_tensor_qkv/build_qkv load it: a fused {@code attn_qkv}
     * (q rows, then k, then v) or {@code attn_q/k/v}, with their optional biases and {@code .scale} factors, the
     * output projection with its optional {@code .scale}; per-head {@code attn_q_norm}/{@code attn_k_norm} as
     * {@code qkNorm} says. None of these graphs adds an output bias (a file with one is refused as carrying an unused
     * tensor).
     */
    protected final Attention gqa(int layer, Rope rope, QkNorm qkNorm) {
        return gqa(layer, rope, qkNorm, 0f, false);
    }

    /** As {@link #gqa(int, Rope, QkNorm)}, with a score scale (0: {@code 1/sqrt(head_dim)}) and optionally the output bias. */
    protected final Attention gqa(int layer, Rope rope, QkNorm qkNorm, float scoreScale, boolean outputBias) {
        float[] qNorm = switch (qkNorm) {
            case REQUIRED, REQUIRED_AFTER_ROPE -> norm(layer, "attn_q_norm");
            case OPTIONAL -> optionalNorm(layer, "attn_q_norm");
            case NONE -> null;
        };
        float[] kNorm = switch (qkNorm) {
            case REQUIRED, REQUIRED_AFTER_ROPE -> norm(layer, "attn_k_norm");
            case OPTIONAL -> optionalNorm(layer, "attn_k_norm");
            case NONE -> null;
        };
        if ((qNorm == null) != (kNorm == null))
            throw new IllegalArgumentException(config.arch() + ": blk." + layer + " has only one of attn_q_norm and attn_k_norm");
        Attention.NormScope scope = qkNorm == QkNorm.REQUIRED_AFTER_ROPE ? Attention.NormScope.PER_HEAD_AFTER_ROPE : Attention.NormScope.PER_HEAD;
        return attention(layer, Attention.Options.NONE.withQkNorm(qNorm, kNorm, scope).withScoreScale(scoreScale), rope, Qkv.LLAMA_CPP, outputBias);
    }

    /** The dense SwiGLU {@code ffn_{gate,up,down}<suffix>} of a layer. */
    protected final SwiGlu swiGlu(int layer, String suffix) {
        return new SwiGlu(t(layer, "ffn_gate" + suffix).matrix(), t(layer, "ffn_up" + suffix).matrix(), t(layer, "ffn_down" + suffix).matrix());
    }

    /**
     * The MoE FFN of {@code layer}: routed experts (with {@code fusedGateUp}, a fused {@code ffn_gate_up_exps} where
     * the file has one, as llama.cpp's create_tensor_gate_up_exps) with the {@code exp_probs_b} selection bias as
     * {@code selectionBias} says, plus the shared experts ({@code ffn_*_shexp}, {@code sharedWidth} wide) when
     * {@code sharedWidth > 0}.
     */
    protected final MoeFfn moe(int layer, MoeFfn.Options routing, SelectionBias selectionBias, boolean fusedGateUp,
                               int sharedWidth, String sharedWidthFrom) {
        var c = config;
        float[] probsBias = selectionBias == SelectionBias.NONE ? null : bias(layer, "exp_probs_b");
        if (probsBias == null && selectionBias == SelectionBias.REQUIRED)
            throw new IllegalArgumentException(c.arch() + ": tensor blk." + layer + ".exp_probs_b.bias is missing (llama.cpp requires it for " + c.arch() + ")");
        FeedForward shared = null;
        if (sharedWidth > 0) {
            GgufTensor gate = t(layer, "ffn_gate_shexp");
            if (gate.ne(1) != sharedWidth)
                throw new IllegalArgumentException(c.arch() + ": tensor " + gate.name() + " has " + gate.ne(1) + " rows, expected "
                        + sharedWidthFrom + " = " + sharedWidth);
            shared = swiGlu(layer, "_shexp");
        }
        return new MoeFfn(t(layer, "ffn_gate_inp").matrix(), routedExperts(layer, fusedGateUp, false), c.expertUsedCount(),
                routing.withSelectionBias(probsBias), shared);
    }
}
