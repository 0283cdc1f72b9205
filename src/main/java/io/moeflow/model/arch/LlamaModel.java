package io.moeflow.model.arch;

import io.moeflow.gguf.GgufFile;
import io.moeflow.kernels.WorkerPool;
import io.moeflow.model.DecoderConfig;
import io.moeflow.model.DecoderModel;
import io.moeflow.model.blocks.Attention;
import io.moeflow.model.blocks.FeedForward;
import io.moeflow.model.blocks.MoeFfn;
import io.moeflow.model.blocks.Rope;
import io.moeflow.model.blocks.SwiGlu;

/**
 * {@code llama}: GQA attention with normal RoPE (q/k/v fused or not, optional q/k/v/o biases and projection
 * scales, as llama.cpp loads them); a dense SwiGLU FFN, or Mixtral-style experts where the layer has a router
 * (softmax over all experts, top-k, weights renormalised). RoPE frequency factors: {@code rope_freqs} (Llama 3), or
 * with LongRoPE {@code rope_factors_long} when the context served (the model's context length) exceeds
 * {@code rope.scaling.original_context_length}, else {@code rope_factors_short} (llama.cpp's get_rope_factors).
 */
public final class LlamaModel extends DecoderModel {
    public LlamaModel(GgufFile f, WorkerPool pool) {
        super(f, DecoderConfig.read(f, false), pool);
        var c = config;
        float[] freqs = f.findTensor("rope_freqs.weight").map(t -> t.toFloats()).orElse(null);
        if (c.ropeScaling().equals("longrope")) {
            float[] longFactors = f.findTensor("rope_factors_long.weight").map(t -> t.toFloats()).orElse(null);
            float[] shortFactors = f.findTensor("rope_factors_short.weight").map(t -> t.toFloats()).orElse(null);
            if (freqs == null) freqs = c.contextLength() > c.ropeOrigContext() ? longFactors : shortFactors;
        }
        if (freqs != null && freqs.length != c.ropeDims() / 2)
            throw new IllegalArgumentException("llama: RoPE frequency factors have " + freqs.length + " values, expected " + c.ropeDims() / 2);
        Rope rope = c.rope(c.ropeDims(), c.ropeNeox(), freqs);
        Layer[] layers = new Layer[c.layers()];
        for (int l = 0; l < layers.length; l++) {
            FeedForward ffn = has(l, "ffn_gate_inp")
                    ? new MoeFfn(t(l, "ffn_gate_inp").matrix(), routedExperts(l, false, true), c.expertUsedCount(), MoeFfn.Options.of(MoeFfn.Gating.SOFTMAX, true, 1f), null)
                    : new SwiGlu(t(l, "ffn_gate").matrix(), t(l, "ffn_up").matrix(), t(l, "ffn_down").matrix(),
                            scale(l, "ffn_gate"), scale(l, "ffn_up"), scale(l, "ffn_down"));
            layers[l] = new Layer(norm(l, "attn_norm"), attention(l, Attention.Options.NONE, rope, Qkv.LLAMA_CPP, true), norm(l, "ffn_norm"), ffn);
        }
        setLayers(layers);
    }
}
