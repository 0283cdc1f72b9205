package io.moeflow.model.arch;

import io.moeflow.gguf.GgufFile;
import io.moeflow.kernels.WorkerPool;
import io.moeflow.model.DecoderConfig;
import io.moeflow.model.DecoderModel;
import io.moeflow.model.blocks.Attention;
import io.moeflow.model.blocks.MoeFfn;
import io.moeflow.model.blocks.Rope;
import io.moeflow.model.blocks.SigmoidGatedFfn;
import io.moeflow.model.blocks.SwiGlu;

/**
 * {@code qwen2moe} (Qwen1.5-MoE, Qwen2-57B-A14B): GQA attention with q/k/v biases and NeoX RoPE; every layer
 * MoE with a softmax router, top-k WITHOUT renormalisation, plus a shared expert ({@code ffn_*_shexp}) scaled
 * per token by {@code sigmoid(ffn_gate_inp_shexp . x)}.
 */
public final class Qwen2MoeModel extends DecoderModel {
    public Qwen2MoeModel(GgufFile f, WorkerPool pool) {
        super(f, DecoderConfig.read(f, true), pool);
        var c = config;
        MoeFfn.Options routing = softmaxRoutingWithoutRenormalisation();
        Rope rope = c.rope();
        Layer[] layers = new Layer[c.layers()];
        for (int l = 0; l < layers.length; l++) {
            SigmoidGatedFfn shared = new SigmoidGatedFfn(
                    new SwiGlu(t(l, "ffn_gate_shexp").matrix(), t(l, "ffn_up_shexp").matrix(), t(l, "ffn_down_shexp").matrix()),
                    t(l, "ffn_gate_inp_shexp").matrix());
            MoeFfn ffn = new MoeFfn(t(l, "ffn_gate_inp").matrix(), routedExperts(l, false, false), c.expertUsedCount(), routing, shared);
            layers[l] = new Layer(norm(l, "attn_norm"), attention(l, Attention.Options.NONE, rope, Qkv.LLAMA_CPP, false), norm(l, "ffn_norm"), ffn);
        }
        setLayers(layers);
    }
}
