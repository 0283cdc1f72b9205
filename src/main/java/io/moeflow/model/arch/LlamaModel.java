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
 * {@code llama}: GQA attention with normal RoPE; a dense SwiGLU FFN, or Mixtral-style experts where the
 * layer has a router (softmax over all experts, top-k, weights renormalised).
 */
public final class LlamaModel extends DecoderModel {
    public LlamaModel(GgufFile f, WorkerPool pool) {
        super(f, DecoderConfig.read(f, false), pool);
        var c = config;
        float[] freqs = f.findTensor("rope_freqs.weight").map(t -> t.toFloats()).orElse(null);
        Rope rope = c.rope(c.ropeDims(), c.ropeNeox(), freqs);
        Layer[] layers = new Layer[c.layers()];
        for (int l = 0; l < layers.length; l++) {
            FeedForward ffn = has(l, "ffn_gate_inp")
                    ? new MoeFfn(t(l, "ffn_gate_inp").matrix(), routedExperts(l, false, true), c.expertUsedCount(), MoeFfn.Gating.SOFTMAX, true, 1f, null)
                    : new SwiGlu(t(l, "ffn_gate").matrix(), t(l, "ffn_up").matrix(), t(l, "ffn_down").matrix());
            layers[l] = new Layer(norm(l, "attn_norm"), attention(l, Attention.Options.NONE, rope), norm(l, "ffn_norm"), ffn);
        }
        setLayers(layers);
    }
}
