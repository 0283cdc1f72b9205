package io.moeflow.model.arch;

import io.moeflow.experts.MappedExperts;
import io.moeflow.gguf.GgufFile;
import io.moeflow.kernels.WorkerPool;
import io.moeflow.model.DecoderConfig;
import io.moeflow.model.DecoderModel;
import io.moeflow.model.blocks.Attention;
import io.moeflow.model.blocks.MoeFfn;

/**
 * {@code olmoe}: attention with RMSNorm of q and k over the whole projection ({@code attn_q_norm} has
 * {@code n_embd} values, not {@code head_dim}) before NeoX RoPE; every layer MoE with a softmax router and
 * top-k WITHOUT renormalisation.
 */
public final class OlmoeModel extends DecoderModel {
    public OlmoeModel(GgufFile f, WorkerPool pool) {
        super(f, DecoderConfig.read(f, true), pool);
        var c = config;
        MoeFfn.Options routing = MoeFfn.Options.of(MoeFfn.Gating.SOFTMAX, false, f.getFloat(c.arch() + ".expert_weights_scale", 1f));
        Layer[] layers = new Layer[c.layers()];
        for (int l = 0; l < layers.length; l++) {
            Attention.Options opt = Attention.Options.NONE
                    .withQkNorm(norm(l, "attn_q_norm"), norm(l, "attn_k_norm"), Attention.NormScope.WHOLE);
            Attention attn = new Attention(t(l, "attn_q").matrix(), t(l, "attn_k").matrix(), t(l, "attn_v").matrix(),
                    t(l, "attn_output").matrix(), opt, c.heads(), c.kvHeads(), c.keyLength(), c.valueLength(), c.rmsEps(), c.rope());
            MoeFfn ffn = new MoeFfn(t(l, "ffn_gate_inp").matrix(),
                    new MappedExperts(t(l, "ffn_gate_exps"), t(l, "ffn_up_exps"), t(l, "ffn_down_exps")),
                    c.expertUsedCount(), routing, null);
            layers[l] = new Layer(norm(l, "attn_norm"), attn, norm(l, "ffn_norm"), ffn);
        }
        setLayers(layers);
    }
}
