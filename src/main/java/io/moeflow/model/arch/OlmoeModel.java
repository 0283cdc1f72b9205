package io.moeflow.model.arch;

import io.moeflow.gguf.GgufFile;
import io.moeflow.kernels.WorkerPool;
import io.moeflow.model.DecoderConfig;
import io.moeflow.model.DecoderModel;
import io.moeflow.model.blocks.Attention;
import io.moeflow.model.blocks.MoeFfn;
import io.moeflow.model.blocks.Rope;

/**
 * {@code olmoe}: attention with RMSNorm of q and k over the whole projection ({@code attn_q_norm} has
 * {@code n_embd} values, not {@code head_dim}) before NeoX RoPE; every layer MoE with a softmax router and
 * top-k WITHOUT renormalisation.
 */
public final class OlmoeModel extends DecoderModel {
    public OlmoeModel(GgufFile f, WorkerPool pool) {
        super(f, DecoderConfig.read(f, true), pool);
        var c = config;
        MoeFfn.Options routing = softmaxRoutingWithoutRenormalisation();
        Rope rope = c.rope();
        Layer[] layers = new Layer[c.layers()];
        for (int l = 0; l < layers.length; l++) {
            Attention.Options opt = Attention.Options.NONE
                    .withQkNorm(norm(l, "attn_q_norm"), norm(l, "attn_k_norm"), Attention.NormScope.WHOLE);
            MoeFfn ffn = new MoeFfn(t(l, "ffn_gate_inp").matrix(), routedExperts(l, false, false), c.expertUsedCount(), routing, null);
            layers[l] = new Layer(norm(l, "attn_norm"), attention(l, opt, rope, Qkv.SEPARATE, false), norm(l, "ffn_norm"), ffn);
        }
        setLayers(layers);
    }
}
