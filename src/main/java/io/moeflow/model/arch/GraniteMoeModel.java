package io.moeflow.model.arch;

import io.moeflow.gguf.GgufFile;
import io.moeflow.kernels.WorkerPool;
import io.moeflow.model.blocks.MoeFfn;
import io.moeflow.model.blocks.Rope;

/**
 * {@code granitemoe} (IBM Granite 3.x MoE, Granite MoE Shared; llama.cpp's src/models/granite-moe.cpp and the
 * shared graph of granite.cpp): GQA attention with optional q/k/v/o biases and normal RoPE (none when
 * {@code rope.scaling.finetuned} is false), scores scaled by {@code attention.scale} (else {@code 1/sqrt(head_dim)});
 * the embeddings times {@code embedding_scale}, every attention and FFN output times {@code residual_scale} before
 * the residual add, the logits divided by {@code logit_scale}; every layer MoE: softmax, always renormalised, no
 * selection bias and no weight scale (the loader reads no {@code expert_weights_scale}), plus a shared expert of
 * {@code expert_shared_feed_forward_length} when positive. Optional {@code rope_freqs.weight} factors.
 */
public final class GraniteMoeModel extends SharedExpertMoeModel {
    public GraniteMoeModel(GgufFile f, WorkerPool pool) {
        super(f, pool, false);
        var c = config;
        String a = c.arch();
        requireRopeOverTheWholeHead();
        if (c.expertCount() == 0)
            throw new IllegalArgumentException(a + ": " + a + ".expert_count is 0; dense Granite files are architecture 'granite', which moeflow does not support");
        float logitScale = f.getFloat(a + ".logit_scale");
        float residual = f.getFloat(a + ".residual_scale", 0f), embedding = f.getFloat(a + ".embedding_scale", 0f);
        setStreamScales(embedding == 0f ? 1f : embedding, residual == 0f ? 1f : residual, 1f / logitScale);
        float scoreScale = f.getFloat(a + ".attention.scale", 0f);
        float[] freqs = f.findTensor("rope_freqs.weight").map(t -> t.toFloats()).orElse(null);
        if (freqs != null && freqs.length != c.ropeDims() / 2)
            throw new IllegalArgumentException(a + ": rope_freqs.weight has " + freqs.length + " values, expected " + c.ropeDims() / 2);
        // rope_finetuned is granite's switch for RoPE (true when absent): without it no position is encoded.
        Rope rope = f.getBool(a + ".rope.scaling.finetuned", true) ? c.rope(c.ropeDims(), false, freqs) : c.rope(0, false, null);
        int sharedWidth = f.getInt(a + ".expert_shared_feed_forward_length", 0);
        MoeFfn.Options routing = routing(MoeFfn.Gating.SOFTMAX, true, 0f);
        Layer[] layers = new Layer[c.layers()];
        for (int l = 0; l < layers.length; l++) {
            MoeFfn ffn = moe(l, routing, SelectionBias.NONE, false, sharedWidth, "expert_shared_feed_forward_length");
            layers[l] = new Layer(norm(l, "attn_norm"), gqa(l, rope, QkNorm.NONE, scoreScale, true), norm(l, "ffn_norm"), ffn);
        }
        setLayers(layers);
    }
}
