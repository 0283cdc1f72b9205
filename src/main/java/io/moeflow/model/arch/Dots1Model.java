package io.moeflow.model.arch;

import io.moeflow.gguf.GgufFile;
import io.moeflow.kernels.WorkerPool;
import io.moeflow.model.blocks.FeedForward;
import io.moeflow.model.blocks.MoeFfn;
import io.moeflow.model.blocks.Rope;

/**
 * {@code dots1} (rednote's dots.llm1; llama.cpp's src/models/dots1.cpp): multi-head attention (as many kv heads as
 * heads) with optional q/k/v biases and per-head q/k RMSNorm before NeoX RoPE over the whole head;
 * {@code leading_dense_block_count} dense layers, then MoE layers routed as {@code expert_gating_func} says (the
 * file must carry it: llama.cpp has no default), selection plus the optional {@code exp_probs_b}, optional
 * renormalisation and {@code expert_weights_scale}, plus {@code expert_shared_count} shared experts.
 */
public final class Dots1Model extends SharedExpertMoeModel {
    public Dots1Model(GgufFile f, WorkerPool pool) {
        super(f, pool, true);
        var c = config;
        String a = c.arch();
        if (c.kvHeads() != c.heads())
            throw new IllegalArgumentException(a + ": " + a + ".attention.head_count_kv " + c.kvHeads() + " differs from head_count "
                    + c.heads() + "; llama.cpp's dots1 loader expects k and v as wide as q");
        requireRopeOverTheWholeHead();
        if (f.findTensor("output.weight").isEmpty())
            throw new IllegalArgumentException(a + ": tensor output.weight is missing (llama.cpp's dots1 loader requires it)");
        int dense = f.getInt(a + ".leading_dense_block_count", 0);
        int shared = f.getInt(a + ".expert_shared_count") * c.expertFfnLength();
        MoeFfn.Options routing = routing(gating(null));
        Rope rope = c.rope();
        Layer[] layers = new Layer[c.layers()];
        for (int l = 0; l < layers.length; l++) {
            FeedForward ffn = l < dense ? swiGlu(l, "") : moe(l, routing, SelectionBias.OPTIONAL, false, shared, "expert_shared_count x expert_feed_forward_length");
            layers[l] = new Layer(norm(l, "attn_norm"), gqa(l, rope, QkNorm.REQUIRED), norm(l, "ffn_norm"), ffn);
        }
        setLayers(layers);
    }
}
