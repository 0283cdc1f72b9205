package io.moeflow.model.arch;

import io.moeflow.gguf.GgufFile;
import io.moeflow.kernels.WorkerPool;
import io.moeflow.model.DecoderConfig;
import io.moeflow.model.DecoderModel;
import io.moeflow.model.blocks.Attention;
import io.moeflow.model.blocks.MoeFfn;
import io.moeflow.model.blocks.Rope;

/**
 * {@code gpt-oss}: GQA attention with q/k/v/o biases, per-head attention sinks, a sliding window on even
 * layers (llama.cpp's swa pattern 2) and full attention on odd ones, NeoX RoPE (YaRN in real files); the FFN
 * input norm is {@code post_attention_norm}; every layer MoE with a router bias, top-k on the raw logits,
 * softmax over the selected logits, experts with biases and the clamped SwiGLU (MXFP4 in real files).
 */
public final class GptOssModel extends DecoderModel {
    public GptOssModel(GgufFile f, WorkerPool pool) {
        super(f, DecoderConfig.read(f, true), pool);
        var c = config;
        int window = f.getInt(c.arch() + ".attention.sliding_window", 0);
        Rope rope = c.rope();
        MoeFfn.Options routing = MoeFfn.Options.of(MoeFfn.Gating.SOFTMAX_SELECTED, false, 1f)
                .withActivation(MoeFfn.Activation.SWIGLU_OAI);
        Layer[] layers = new Layer[c.layers()];
        for (int l = 0; l < layers.length; l++) {
            // llama.cpp's swa pattern 2: even layers use the sliding window, odd ones full attention.
            Attention.Options opt = Attention.Options.NONE.withSinks(norm(l, "attn_sinks")).withWindow(l % 2 == 0 ? window : 0);
            MoeFfn ffn = new MoeFfn(t(l, "ffn_gate_inp").matrix(), routedExperts(l, false, false), c.expertUsedCount(),
                    routing.withRouterBias(bias(l, "ffn_gate_inp")), null);
            layers[l] = new Layer(norm(l, "attn_norm"), attention(l, opt, rope, Qkv.LLAMA_CPP, true), norm(l, "post_attention_norm"), ffn);
        }
        setLayers(layers);
    }
}
