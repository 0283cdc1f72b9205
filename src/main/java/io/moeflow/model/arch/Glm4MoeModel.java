package io.moeflow.model.arch;

import io.moeflow.gguf.GgufFile;
import io.moeflow.gguf.GgufValueType;
import io.moeflow.kernels.WorkerPool;
import io.moeflow.model.blocks.FeedForward;
import io.moeflow.model.blocks.MoeFfn;
import io.moeflow.model.blocks.Rope;

/**
 * {@code glm4moe} (GLM-4.5, GLM-4.5-Air, GLM-4.6, GLM-4.7; llama.cpp's src/models/glm4-moe.cpp): GQA attention
 * with q/k/v biases, optional per-head q/k RMSNorm (the 355B files), NeoX RoPE over only the first
 * {@code rope.dimension_count} values of each head (partial rotary, half the head in GLM-4.5); the FFN input norm
 * is {@code post_attention_norm}; {@code leading_dense_block_count} dense layers, then MoE layers: sigmoid gating
 * unless {@code expert_gating_func} says otherwise, selection on the probabilities plus {@code exp_probs_b},
 * renormalised weights times {@code expert_weights_scale}, plus {@code expert_shared_count} shared experts. The
 * last {@code nextn_predict_layers} blocks are MTP blocks decoding skips. Multimodal RoPE
 * ({@code rope.dimension_sections}) is refused.
 */
public final class Glm4MoeModel extends SharedExpertMoeModel {
    public Glm4MoeModel(GgufFile f, WorkerPool pool) {
        super(f, pool, true);
        var c = config;
        String a = c.arch();
        refuseMultimodalRope(f, a);
        int dense = f.getInt(a + ".leading_dense_block_count", 0);
        int shared = f.getInt(a + ".expert_shared_count") * c.expertFfnLength();
        MoeFfn.Options routing = routing(gating(MoeFfn.Gating.SIGMOID));
        Rope rope = c.rope();
        Layer[] layers = new Layer[c.layers()];
        for (int l = 0; l < layers.length; l++) {
            // glm4-moe.cpp passes no output bias to build_attn: a file with attn_output.bias is refused as unused.
            FeedForward ffn = l < dense ? swiGlu(l, "") : moe(l, routing, SelectionBias.REQUIRED, true, shared, "expert_shared_count x expert_feed_forward_length");
            layers[l] = new Layer(norm(l, "attn_norm"), gqa(l, rope, QkNorm.OPTIONAL), norm(l, "post_attention_norm"), ffn);
        }
        setLayers(layers);
    }

    /** llama.cpp switches glm4moe to multimodal RoPE when the first two {@code rope.dimension_sections} are positive. */
    private static void refuseMultimodalRope(GgufFile f, String a) {
        String key = a + ".rope.dimension_sections";
        if (!f.has(key)) return;
        int[] s = f.value(key).type() == GgufValueType.ARRAY ? f.getIntArray(key) : new int[] {f.getInt(key), f.getInt(key)};
        if (s.length >= 2 && s[0] > 0 && s[1] > 0)
            throw new IllegalArgumentException(a + ": " + key + " = " + java.util.Arrays.toString(s)
                    + " selects multimodal RoPE (GLM-4.5V), which moeflow does not support");
    }
}
