package io.moeflow.model.arch;

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
            Attention.Options qkNorm = Attention.Options.NONE
                    .withQkNorm(norm(l, "attn_q_norm"), norm(l, "attn_k_norm"), Attention.NormScope.PER_HEAD);
            MoeFfn ffn = new MoeFfn(t(l, "ffn_gate_inp").matrix(), routedExperts(l, false, true), c.expertUsedCount(),
                    MoeFfn.Options.of(MoeFfn.Gating.SOFTMAX, true, 1f), null);
            layers[l] = new Layer(norm(l, "attn_norm"), attention(l, qkNorm, rope, Qkv.LLAMA_CPP, false), norm(l, "ffn_norm"), ffn);
        }
        setLayers(layers);
    }
}
