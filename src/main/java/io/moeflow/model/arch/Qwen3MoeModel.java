package io.moeflow.model.arch;

import io.moeflow.experts.MappedExperts;
import io.moeflow.gguf.GgufFile;
import io.moeflow.kernels.WorkerPool;
import io.moeflow.model.DecoderConfig;
import io.moeflow.model.DecoderModel;
import io.moeflow.model.blocks.Attention;
import io.moeflow.model.blocks.MoeFfn;
import io.moeflow.model.blocks.Rope;

/**
 * {@code qwen3moe}: GQA attention with per-head RMSNorm on q and k before NeoX RoPE; every layer an MoE FFN
 * (softmax router, top-k, renormalised weights; llama.cpp always renormalises for this architecture).
 */
public final class Qwen3MoeModel extends DecoderModel {
    public Qwen3MoeModel(GgufFile f, WorkerPool pool) {
        super(f, DecoderConfig.read(f, true), pool);
        var c = config;
        Rope rope = c.rope();
        Layer[] layers = new Layer[c.layers()];
        for (int l = 0; l < layers.length; l++) {
            Attention attn = new Attention(t(l, "attn_q").matrix(), t(l, "attn_k").matrix(), t(l, "attn_v").matrix(),
                    t(l, "attn_output").matrix(), norm(l, "attn_q_norm"), norm(l, "attn_k_norm"), c.heads(), c.kvHeads(),
                    c.keyLength(), c.valueLength(), c.rmsEps(), rope);
            MoeFfn ffn = new MoeFfn(t(l, "ffn_gate_inp").matrix(),
                    new MappedExperts(t(l, "ffn_gate_exps"), t(l, "ffn_up_exps"), t(l, "ffn_down_exps")),
                    c.expertUsedCount(), MoeFfn.Gating.SOFTMAX, true, 1f, null);
            layers[l] = new Layer(norm(l, "attn_norm"), attn, norm(l, "ffn_norm"), ffn);
        }
        setLayers(layers);
    }
}
