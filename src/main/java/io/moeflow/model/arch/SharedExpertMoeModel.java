package io.moeflow.model.arch;

import io.moeflow.gguf.GgufFile;
import io.moeflow.gguf.GgufTensor;
import io.moeflow.kernels.QMatrix;
import io.moeflow.kernels.WorkerPool;
import io.moeflow.model.DecoderConfig;
import io.moeflow.model.DecoderModel;
import io.moeflow.model.blocks.Attention;
import io.moeflow.model.blocks.FeedForward;
import io.moeflow.model.blocks.MoeFfn;
import io.moeflow.model.blocks.Rope;
import io.moeflow.model.blocks.SwiGlu;

/**
 * What the GQA architectures with DeepSeek-style experts (glm4moe, dots1, ernie4_5-moe, bailingmoe2) share: GQA attention with
 * optional q/k/v biases and per-head q/k RMSNorm, leading dense SwiGLU layers, then MoE layers routed as llama.cpp's
 * build_moe_ffn does ({@code expert_gating_func}, {@code expert_weights_norm}, {@code expert_weights_scale},
 * {@code expert_group_count}/{@code _used_count}, the {@code exp_probs_b} selection bias) plus shared experts
 * ({@code ffn_*_shexp}) added unscaled.
 */
abstract class SharedExpertMoeModel extends DecoderModel {
    /** Whether a layer's per-head {@code attn_q_norm}/{@code attn_k_norm} are required, optional or not loaded at all. */
    protected enum QkNorm { REQUIRED, OPTIONAL, NONE }

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
        return routing(gating, gguf.getBool(a + ".expert_weights_norm", false), gguf.getFloat(a + ".expert_weights_scale", 0f));
    }

    /** Routing with the given renormalisation and weight scale (0 or 1: none), and the file's expert groups. */
    protected final MoeFfn.Options routing(MoeFfn.Gating gating, boolean normalize, float weightScale) {
        String a = config.arch();
        return MoeFfn.Options.of(gating, normalize, weightScale)
                .withGroups(gguf.getInt(a + ".expert_group_count", 0), gguf.getInt(a + ".expert_group_used_count", 0));
    }

    /**
     * GQA attention of {@code layer} over a fused {@code attn_qkv} ({@code ne = {n_embd, q + k + v}}: the q rows, then
     * k, then v, as llama.cpp's build_qkv splits it; zero-copy row slices), without biases, with per-head q/k norm as
     * {@code qkNorm} says.
     */
    protected final Attention gqaFused(int layer, Rope rope, QkNorm qkNorm) {
        var c = config;
        GgufTensor qkv = t(layer, "attn_qkv");
        int q = c.qDim(), k = c.kvDim(), v = c.vDim();
        if (qkv.dims() != 2 || qkv.ne(1) != (long) q + k + v)
            throw new IllegalArgumentException(c.arch() + ": tensor " + qkv.name() + " " + java.util.Arrays.toString(qkv.ne())
                    + " is not {n_embd, q " + q + " + k " + k + " + v " + v + "}");
        QMatrix m = qkv.matrix();
        return gqa(layer, rope, qkNorm, rows(m, 0, q), rows(m, q, k), rows(m, q + k, v), false);
    }

    private static QMatrix rows(QMatrix m, int first, int count) {
        return new QMatrix(m.type(), m.data(), m.rowOffset(first), m.cols(), count);
    }

    /**
     * GQA attention of {@code layer} over {@code attn_q/k/v/output}, with the q/k/v biases where the file has them
     * and per-head {@code attn_q_norm}/{@code attn_k_norm} as {@code qkNorm} says. None of these graphs adds an
     * output bias (a file with one is refused as carrying an unused tensor).
     */
    protected final Attention gqa(int layer, Rope rope, QkNorm qkNorm) {
        return gqa(layer, rope, qkNorm, t(layer, "attn_q").matrix(), t(layer, "attn_k").matrix(), t(layer, "attn_v").matrix(), true);
    }

    private Attention gqa(int layer, Rope rope, QkNorm qkNorm, QMatrix wq, QMatrix wk, QMatrix wv, boolean biases) {
        var c = config;
        float[] qNorm = switch (qkNorm) {
            case REQUIRED -> norm(layer, "attn_q_norm");
            case OPTIONAL -> optionalNorm(layer, "attn_q_norm");
            case NONE -> null;
        };
        float[] kNorm = switch (qkNorm) {
            case REQUIRED -> norm(layer, "attn_k_norm");
            case OPTIONAL -> optionalNorm(layer, "attn_k_norm");
            case NONE -> null;
        };
        if ((qNorm == null) != (kNorm == null))
            throw new IllegalArgumentException(c.arch() + ": blk." + layer + " has only one of attn_q_norm and attn_k_norm");
        Attention.Options opt = Attention.Options.NONE
                .withBiases(biases ? bias(layer, "attn_q") : null, biases ? bias(layer, "attn_k") : null, biases ? bias(layer, "attn_v") : null, null)
                .withQkNorm(qNorm, kNorm, Attention.NormScope.PER_HEAD);
        return new Attention(wq, wk, wv, t(layer, "attn_output").matrix(), opt, c.heads(), c.kvHeads(), c.keyLength(), c.valueLength(), c.rmsEps(), rope);
    }

    /** The dense SwiGLU {@code ffn_{gate,up,down}<suffix>} of a layer. */
    protected final SwiGlu swiGlu(int layer, String suffix) {
        return new SwiGlu(t(layer, "ffn_gate" + suffix).matrix(), t(layer, "ffn_up" + suffix).matrix(), t(layer, "ffn_down" + suffix).matrix());
    }

    /**
     * The MoE FFN of {@code layer}: routed experts with the {@code exp_probs_b} selection bias (required or optional),
     * plus the shared experts ({@code ffn_*_shexp}, {@code sharedWidth} wide) when {@code sharedWidth > 0}.
     */
    protected final MoeFfn moe(int layer, MoeFfn.Options routing, boolean selectionBiasRequired, int sharedWidth, String sharedWidthFrom) {
        var c = config;
        float[] selectionBias = bias(layer, "exp_probs_b");
        if (selectionBias == null && selectionBiasRequired)
            throw new IllegalArgumentException(c.arch() + ": tensor blk." + layer + ".exp_probs_b.bias is missing (llama.cpp requires it for " + c.arch() + ")");
        FeedForward shared = null;
        if (sharedWidth > 0) {
            GgufTensor gate = t(layer, "ffn_gate_shexp");
            if (gate.ne(1) != sharedWidth)
                throw new IllegalArgumentException(c.arch() + ": tensor " + gate.name() + " has " + gate.ne(1) + " rows, expected "
                        + sharedWidthFrom + " = " + sharedWidth);
            shared = swiGlu(layer, "_shexp");
        }
        return new MoeFfn(t(layer, "ffn_gate_inp").matrix(), routedExperts(layer, false, false), c.expertUsedCount(),
                routing.withSelectionBias(selectionBias), shared);
    }
}
