package io.moeflow.model.arch;

import io.moeflow.gguf.GgufFile;
import io.moeflow.kernels.WorkerPool;
import io.moeflow.model.blocks.FeedForward;
import io.moeflow.model.blocks.MoeFfn;
import io.moeflow.model.blocks.Rope;

/**
 * {@code ernie4_5-moe} (Baidu's ERNIE-4.5-21B-A3B, 300B-A47B; llama.cpp's src/models/ernie4-5.cpp and
 * ernie4-5-moe.cpp): GQA attention with optional q/k/v biases and normal (GPT-J) RoPE over the whole head, no q/k
 * norm; the first {@code leading_dense_block_count} layers dense, then MoE where {@code (layer + 1) %
 * interleave_moe_layer_step == 0}: softmax router, selection plus the optional {@code exp_probs_b}, ALWAYS
 * renormalised and never scaled (the graph passes true, and the loader reads no {@code expert_weights_norm} or
 * {@code expert_weights_scale}, so those keys are ignored as llama.cpp ignores them), plus a shared expert of
 * {@code expert_shared_feed_forward_length} when that is positive. The output head may be tied to the embedding.
 * llama.cpp loads an {@code attn_output.bias} but its graph never adds it; moeflow refuses such a file.
 */
public final class Ernie45MoeModel extends SharedExpertMoeModel {
    public Ernie45MoeModel(GgufFile f, WorkerPool pool) {
        super(f, pool, false);
        var c = config;
        String a = c.arch();
        requireRopeOverTheWholeHead();
        int dense = f.getInt(a + ".leading_dense_block_count", 0);
        int step = f.getInt(a + ".interleave_moe_layer_step");
        if (step <= 0) throw new IllegalArgumentException(a + ": " + a + ".interleave_moe_layer_step = " + step + " must be positive");
        int sharedWidth = f.getInt(a + ".expert_shared_feed_forward_length", 0);
        MoeFfn.Options routing = routing(MoeFfn.Gating.SOFTMAX, true, 0f);
        Rope rope = c.rope();
        Layer[] layers = new Layer[c.layers()];
        for (int l = 0; l < layers.length; l++) {
            boolean moe = l >= dense && (l + 1) % step == 0;
            // llama.cpp's loader gives every layer past the dense ones expert tensors, its graph only the interleaved
            // ones: a layer between them would have no FFN there (llama.cpp fails on it).
            if (l >= dense && !moe)
                throw new IllegalArgumentException(a + ": blk." + l + " is past leading_dense_block_count " + dense + " but not a MoE layer by "
                        + a + ".interleave_moe_layer_step " + step + "; llama.cpp loads no dense FFN for it");
            FeedForward ffn = moe ? moe(l, routing, SelectionBias.OPTIONAL, false, sharedWidth, "expert_shared_feed_forward_length") : swiGlu(l, "");
            layers[l] = new Layer(norm(l, "attn_norm"), gqa(l, rope, QkNorm.NONE), norm(l, "ffn_norm"), ffn);
        }
        setLayers(layers);
    }
}
