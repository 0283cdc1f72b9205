package io.moeflow.model.arch;

import io.moeflow.gguf.GgufFile;
import io.moeflow.kernels.WorkerPool;
import io.moeflow.model.blocks.MoeFfn;
import io.moeflow.model.blocks.Rope;

/**
 * {@code hunyuan-moe} (Tencent's Hunyuan-A13B; llama.cpp's src/models/hunyuan-moe.cpp): GQA attention with optional
 * q/k/v biases, NeoX RoPE over the whole head and THEN per-head q/k RMSNorm; every layer MoE: softmax router,
 * top-k always renormalised and never scaled (the loader reads no {@code expert_weights_scale}, so llama.cpp ignores
 * it), no selection bias, plus a shared MLP ({@code ffn_*_shexp}, {@code expert_shared_feed_forward_length} or
 * {@code feed_forward_length} wide). The output head may be tied to the embedding.
 */
public final class HunyuanMoeModel extends SharedExpertMoeModel {
    public HunyuanMoeModel(GgufFile f, WorkerPool pool) {
        super(f, pool, true);
        var c = config;
        String a = c.arch();
        requireRopeOverTheWholeHead();
        int sharedFfn = f.getInt(a + ".expert_shared_feed_forward_length", 0);
        int sharedWidth = sharedFfn > 0 ? sharedFfn : c.ffnLength();
        MoeFfn.Options routing = routing(MoeFfn.Gating.SOFTMAX, true, 0f);
        Rope rope = c.rope();
        Layer[] layers = new Layer[c.layers()];
        for (int l = 0; l < layers.length; l++) {
            MoeFfn ffn = moe(l, routing, SelectionBias.NONE, false, sharedWidth, "expert_shared_feed_forward_length (or feed_forward_length)");
            layers[l] = new Layer(norm(l, "attn_norm"), gqa(l, rope, QkNorm.REQUIRED_AFTER_ROPE), norm(l, "ffn_norm"), ffn);
        }
        setLayers(layers);
    }
}
