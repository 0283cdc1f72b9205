package io.moeflow.model.arch;

import io.moeflow.gguf.GgufFile;
import io.moeflow.kernels.WorkerPool;
import io.moeflow.model.blocks.FeedForward;
import io.moeflow.model.blocks.MoeFfn;
import io.moeflow.model.blocks.Rope;

/**
 * {@code bailingmoe2} (inclusionAI's Ling 2.0 / Ring 2.0: Ling-mini, Ling-flash, Ling-1T; llama.cpp's
 * src/models/bailingmoe2.cpp): GQA attention over a fused {@code attn_qkv} without biases, per-head q/k RMSNorm,
 * NeoX RoPE over {@code rope.dimension_count} values of each head (half the head in Ling 2.0);
 * {@code leading_dense_block_count} dense layers, then MoE layers routed as {@code expert_gating_func} says (required;
 * sigmoid in Ling 2.0), selection plus the optional {@code exp_probs_b}, within the best expert groups, optional
 * renormalisation and {@code expert_weights_scale}, plus {@code expert_shared_count} shared experts of
 * {@code expert_shared_feed_forward_length} (or {@code expert_feed_forward_length}). The last
 * {@code nextn_predict_layers} blocks are MTP blocks decoding skips.
 */
public final class BailingMoe2Model extends SharedExpertMoeModel {
    public BailingMoe2Model(GgufFile f, WorkerPool pool) {
        super(f, pool, true);
        var c = config;
        String a = c.arch();
        if (f.findTensor("output.weight").isEmpty())
            throw new IllegalArgumentException(a + ": tensor output.weight is missing (llama.cpp's bailingmoe2 loader requires it)");
        int dense = f.getInt(a + ".leading_dense_block_count", 0);
        int sharedFfn = f.getInt(a + ".expert_shared_feed_forward_length", 0);
        int shared = f.getInt(a + ".expert_shared_count") * (sharedFfn > 0 ? sharedFfn : c.expertFfnLength());
        MoeFfn.Options routing = routing(gating(null));
        Rope rope = c.rope();
        Layer[] layers = new Layer[c.layers()];
        for (int l = 0; l < layers.length; l++) {
            FeedForward ffn = l < dense ? swiGlu(l, "")
                    : moe(l, routing, SelectionBias.OPTIONAL, false, shared, "expert_shared_count x (expert_shared_feed_forward_length or expert_feed_forward_length)");
            // llama.cpp's bailingmoe2 loader takes only the fused attn_qkv, without bias or scale.
            t(l, "attn_qkv");
            for (String unused : new String[] {"bias", "scale"})
                if (tensorOrNull(l, "attn_qkv", unused) != null)
                    throw new IllegalArgumentException(a + ": tensor blk." + l + ".attn_qkv." + unused + " is not used by llama.cpp's bailingmoe2 graph");
            layers[l] = new Layer(norm(l, "attn_norm"), gqa(l, rope, QkNorm.REQUIRED), norm(l, "ffn_norm"), ffn);
        }
        setLayers(layers);
    }
}
