package io.moeflow.model;

import io.moeflow.gguf.GgufValue;
import io.moeflow.gguf.GgufWriter;
import io.moeflow.kernels.GgmlType;
import java.io.IOException;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Random;
import java.util.function.Consumer;

/**
 * Tiny random-weight F32 GGUF files of the architectures added after the golden set, written with moeflow's
 * {@link GgufWriter} from a fixed seed ({@link Random} is specified bit for bit, so the same file every run). The
 * expected logits under src/test/resources/reference/ were computed from these files by the independent float64
 * pass {@code moe_archs_f64.py}. A file is built from all its tensors first; a {@code mutation} then changes keys
 * or drops tensors, so a mutated file shares every other weight with the reference one.
 */
final class TinyArchFiles {
    final Map<String, GgufValue> kv = new LinkedHashMap<>();
    final Map<String, long[]> shapes = new LinkedHashMap<>();
    final Map<String, float[]> values = new LinkedHashMap<>();
    private final Random r;
    private final String arch;

    private TinyArchFiles(String arch, long seed) {
        this.arch = arch;
        this.r = new Random(seed);
        kv.put("general.architecture", GgufValue.ofString(arch));
        kv.put("general.name", GgufValue.ofString("tiny " + arch));
    }

    static final int VOCAB = 64, EMBD = 32;

    TinyArchFiles u32(String key, long v) {
        kv.put(arch + "." + key, GgufValue.ofUInt32(v));
        return this;
    }

    TinyArchFiles f32(String key, float v) {
        kv.put(arch + "." + key, GgufValue.ofFloat32(v));
        return this;
    }

    TinyArchFiles bool(String key, boolean v) {
        kv.put(arch + "." + key, GgufValue.ofBool(v));
        return this;
    }

    /** A tensor of normal values {@code mean + std * N(0,1)}, {@code ne[0]} innermost. */
    TinyArchFiles tensor(String name, double std, double mean, long... ne) {
        long n = 1;
        for (long d : ne) n *= d;
        float[] v = new float[(int) n];
        for (int i = 0; i < v.length; i++) v[i] = (float) (mean + std * r.nextGaussian());
        shapes.put(name, ne);
        values.put(name, v);
        return this;
    }

    /** A tensor of the given values, {@code ne[0]} innermost. */
    TinyArchFiles tensorOf(String name, long[] ne, float... v) {
        shapes.put(name, ne);
        values.put(name, v);
        return this;
    }

    /** Drops every tensor whose name contains {@code part}. */
    TinyArchFiles drop(String part) {
        shapes.keySet().removeIf(k -> k.contains(part));
        values.keySet().removeIf(k -> k.contains(part));
        return this;
    }

    /**
     * Replaces every layer's attn_q/k/v (and their biases) by attn_qkv (and attn_qkv.bias), rows q then k then v as
     * llama.cpp's create_tensor_qkv expects: with {@code ne[0]} innermost, the values simply concatenate.
     */
    static void fuseQkv(TinyArchFiles t) {
        for (int l = 0; t.shapes.containsKey("blk." + l + ".attn_q.weight"); l++) {
            String p = "blk." + l + ".";
            for (String kind : new String[] {"weight", "bias"}) {
                if (!t.shapes.containsKey(p + "attn_q." + kind)) continue;
                float[] q = t.values.remove(p + "attn_q." + kind), k = t.values.remove(p + "attn_k." + kind), v = t.values.remove(p + "attn_v." + kind);
                long[] ne = t.shapes.remove(p + "attn_q." + kind).clone();
                t.shapes.remove(p + "attn_k." + kind);
                t.shapes.remove(p + "attn_v." + kind);
                float[] all = new float[q.length + k.length + v.length];
                System.arraycopy(q, 0, all, 0, q.length);
                System.arraycopy(k, 0, all, q.length, k.length);
                System.arraycopy(v, 0, all, q.length + k.length, v.length);
                ne[ne.length - 1] = ne.length == 1 ? all.length : all.length / ne[0];
                t.shapes.put(p + "attn_qkv." + kind, ne);
                t.values.put(p + "attn_qkv." + kind, all);
            }
        }
    }

    Path write(Path file) throws IOException {
        GgufWriter g = new GgufWriter();
        kv.forEach(g::put);
        shapes.forEach((name, ne) -> g.addTensor(name, GgmlType.F32, ne, GgufWriter.ofFloats(GgmlType.F32, values.get(name))));
        g.write(file);
        return file;
    }

    private TinyArchFiles common(int layers, int heads, int kvHeads, int headDim) {
        u32("context_length", 64).u32("embedding_length", EMBD).u32("block_count", layers).u32("vocab_size", VOCAB)
                .u32("attention.head_count", heads).u32("attention.head_count_kv", kvHeads)
                .f32("attention.layer_norm_rms_epsilon", 1e-5f).f32("rope.freq_base", 10000f);
        if (headDim > 0) u32("attention.key_length", headDim).u32("attention.value_length", headDim);
        tensor("token_embd.weight", 0.5, 0, EMBD, VOCAB);
        tensor("output_norm.weight", 0.1, 1, EMBD);
        tensor("output.weight", 0.3, 0, EMBD, VOCAB);
        return this;
    }

    private void gqa(String p, int heads, int kvHeads, int headDim, boolean biases, boolean qkNorm) {
        tensor(p + "attn_norm.weight", 0.1, 1, EMBD);
        tensor(p + "attn_q.weight", 0.3, 0, EMBD, heads * headDim);
        tensor(p + "attn_k.weight", 0.3, 0, EMBD, kvHeads * headDim);
        tensor(p + "attn_v.weight", 0.3, 0, EMBD, kvHeads * headDim);
        tensor(p + "attn_output.weight", 0.3, 0, heads * headDim, EMBD);
        if (biases) {
            tensor(p + "attn_q.bias", 0.3, 0, heads * headDim);
            tensor(p + "attn_k.bias", 0.3, 0, kvHeads * headDim);
            tensor(p + "attn_v.bias", 0.3, 0, kvHeads * headDim);
        }
        if (qkNorm) {
            tensor(p + "attn_q_norm.weight", 0.1, 1, headDim);
            tensor(p + "attn_k_norm.weight", 0.1, 1, headDim);
        }
    }

    private void dense(String p, int ffn, String suffix) {
        tensor(p + "ffn_gate" + suffix + ".weight", 0.3, 0, EMBD, ffn);
        tensor(p + "ffn_up" + suffix + ".weight", 0.3, 0, EMBD, ffn);
        tensor(p + "ffn_down" + suffix + ".weight", 0.3, 0, ffn, EMBD);
    }

    /** Router, selection bias and routed experts; the bias is large enough to change which experts are chosen. */
    private void experts(String p, int experts, int ffn, boolean selectionBias) {
        tensor(p + "ffn_gate_inp.weight", 0.5, 0, EMBD, experts);
        if (selectionBias) tensor(p + "exp_probs_b.bias", 0.15, 0, experts);
        tensor(p + "ffn_gate_exps.weight", 0.3, 0, EMBD, ffn, experts);
        tensor(p + "ffn_up_exps.weight", 0.3, 0, EMBD, ffn, experts);
        tensor(p + "ffn_down_exps.weight", 0.3, 0, ffn, EMBD, experts);
    }

    // GLM-4.5 shape in small: head_dim 16 != n_embd / n_head, partial RoPE over half the head, q/k/v biases,
    // per-head q/k norm, 1 dense layer + 2 MoE layers, 8 experts top-3, sigmoid + exp_probs_b, renormalised x 2.5,
    // 1 shared expert, and one nextn (MTP) block appended as real files carry it.
    static final int GLM_HEADS = 4, GLM_KV_HEADS = 2, GLM_HEAD_DIM = 16, GLM_ROPE = 8, GLM_EXPERTS = 8, GLM_FFN_EXP = 16;

    static TinyArchFiles glm4moe(long seed) {
        TinyArchFiles t = new TinyArchFiles("glm4moe", seed);
        int layers = 3, nextn = 1;
        t.common(layers + nextn, GLM_HEADS, GLM_KV_HEADS, GLM_HEAD_DIM)
                .u32("rope.dimension_count", GLM_ROPE).u32("feed_forward_length", 48)
                .u32("expert_count", GLM_EXPERTS).u32("expert_used_count", 3).u32("expert_shared_count", 1)
                .u32("expert_feed_forward_length", GLM_FFN_EXP).u32("leading_dense_block_count", 1)
                .f32("expert_weights_scale", 2.5f).bool("expert_weights_norm", true).u32("expert_gating_func", 2)
                .u32("nextn_predict_layers", nextn);
        for (int l = 0; l < layers + nextn; l++) {
            String p = "blk." + l + ".";
            t.gqa(p, GLM_HEADS, GLM_KV_HEADS, GLM_HEAD_DIM, true, true);
            t.tensor(p + "post_attention_norm.weight", 0.1, 1, EMBD);
            if (l == 0) {
                t.dense(p, 48, "");
            } else {
                t.experts(p, GLM_EXPERTS, GLM_FFN_EXP, true);
                t.dense(p, GLM_FFN_EXP, "_shexp");
            }
            if (l >= layers) { // the MTP block's own tensors (llama.cpp loads them skipped)
                t.tensor(p + "nextn.eh_proj.weight", 0.3, 0, 2 * EMBD, EMBD);
                t.tensor(p + "nextn.enorm.weight", 0.1, 1, EMBD);
                t.tensor(p + "nextn.hnorm.weight", 0.1, 1, EMBD);
                t.tensor(p + "nextn.shared_head_norm.weight", 0.1, 1, EMBD);
            }
        }
        return t;
    }

    // dots.llm1 in small: as many kv heads as heads, q/k norm, no biases, 1 dense + 2 MoE layers, 8 experts top-2,
    // sigmoid + exp_probs_b, renormalised x 2, 2 shared experts.
    static TinyArchFiles dots1(long seed) {
        TinyArchFiles t = new TinyArchFiles("dots1", seed);
        int layers = 3, heads = 4, headDim = 8, experts = 8, ffnExp = 12;
        t.common(layers, heads, heads, 0).u32("feed_forward_length", 40)
                .u32("expert_count", experts).u32("expert_used_count", 2).u32("expert_shared_count", 2)
                .u32("expert_feed_forward_length", ffnExp).u32("leading_dense_block_count", 1)
                .f32("expert_weights_scale", 2f).bool("expert_weights_norm", true).u32("expert_gating_func", 2);
        for (int l = 0; l < layers; l++) {
            String p = "blk." + l + ".";
            t.gqa(p, heads, heads, headDim, false, true);
            t.tensor(p + "ffn_norm.weight", 0.1, 1, EMBD);
            if (l == 0) {
                t.dense(p, 40, "");
            } else {
                t.experts(p, experts, ffnExp, true);
                t.dense(p, 2 * ffnExp, "_shexp");
            }
        }
        return t;
    }

    // ERNIE-4.5-21B-A3B in small: GQA without biases or q/k norm, normal RoPE, 1 dense + 3 MoE layers (interleave
    // step 1), 8 experts top-3, softmax + exp_probs_b, a 20-wide shared expert, output tied to the embedding.
    static TinyArchFiles ernie45Moe(long seed) {
        TinyArchFiles t = new TinyArchFiles("ernie4_5-moe", seed);
        int layers = 4, heads = 4, kvHeads = 2, headDim = 8, experts = 8, ffnExp = 12;
        t.common(layers, heads, kvHeads, 0).u32("feed_forward_length", 40)
                .u32("expert_count", experts).u32("expert_used_count", 3).u32("expert_feed_forward_length", ffnExp)
                .u32("expert_shared_feed_forward_length", 20).u32("leading_dense_block_count", 1).u32("interleave_moe_layer_step", 1);
        t.drop("output.weight");
        for (int l = 0; l < layers; l++) {
            String p = "blk." + l + ".";
            t.gqa(p, heads, kvHeads, headDim, false, false);
            t.tensor(p + "ffn_norm.weight", 0.1, 1, EMBD);
            if (l == 0) {
                t.dense(p, 40, "");
            } else {
                t.experts(p, experts, ffnExp, true);
                t.dense(p, 20, "_shexp");
            }
        }
        return t;
    }

    // Ling 2.0 (bailingmoe2) in small: fused attn_qkv, q/k norm, partial NeoX RoPE (half the head), 1 dense + 2 MoE
    // layers, 16 experts top-4 within the best 2 of 4 groups, sigmoid + exp_probs_b, renormalised x 2.5, one shared
    // expert of expert_shared_feed_forward_length, and one nextn block.
    static TinyArchFiles bailingMoe2(long seed) {
        TinyArchFiles t = new TinyArchFiles("bailingmoe2", seed);
        int layers = 3, nextn = 1, heads = 4, kvHeads = 2, headDim = 8, experts = 16, ffnExp = 8;
        t.common(layers + nextn, heads, kvHeads, 0).u32("rope.dimension_count", headDim / 2).u32("feed_forward_length", 40)
                .u32("expert_count", experts).u32("expert_used_count", 4).u32("expert_shared_count", 1)
                .u32("expert_feed_forward_length", ffnExp).u32("expert_shared_feed_forward_length", 12)
                .u32("leading_dense_block_count", 1).f32("expert_weights_scale", 2.5f).bool("expert_weights_norm", true)
                .u32("expert_gating_func", 2).u32("expert_group_count", 4).u32("expert_group_used_count", 2)
                .u32("nextn_predict_layers", nextn);
        for (int l = 0; l < layers + nextn; l++) {
            String p = "blk." + l + ".";
            t.tensor(p + "attn_norm.weight", 0.1, 1, EMBD);
            t.tensor(p + "attn_qkv.weight", 0.3, 0, EMBD, (heads + 2 * kvHeads) * headDim);
            t.tensor(p + "attn_output.weight", 0.3, 0, heads * headDim, EMBD);
            t.tensor(p + "attn_q_norm.weight", 0.1, 1, headDim);
            t.tensor(p + "attn_k_norm.weight", 0.1, 1, headDim);
            t.tensor(p + "ffn_norm.weight", 0.1, 1, EMBD);
            if (l == 0) {
                t.dense(p, 40, "");
            } else {
                t.experts(p, experts, ffnExp, true);
                t.dense(p, 12, "_shexp");
            }
            if (l >= layers) {
                t.tensor(p + "nextn.eh_proj.weight", 0.3, 0, 2 * EMBD, EMBD);
                t.tensor(p + "nextn.enorm.weight", 0.1, 1, EMBD);
                t.tensor(p + "nextn.hnorm.weight", 0.1, 1, EMBD);
                t.tensor(p + "layer_output_norm.weight", 0.1, 1, EMBD);
            }
        }
        return t;
    }

    // Hunyuan-A13B in small: GQA with q/k/v biases, NeoX RoPE then q/k norm, every layer MoE (8 experts top-2,
    // softmax, renormalised) plus a shared MLP of expert_shared_feed_forward_length, output tied to the embedding.
    static TinyArchFiles hunyuanMoe(long seed) {
        TinyArchFiles t = new TinyArchFiles("hunyuan-moe", seed);
        int layers = 2, heads = 4, kvHeads = 2, headDim = 8, experts = 8, ffn = 16;
        t.common(layers, heads, kvHeads, 0).u32("feed_forward_length", ffn).u32("expert_feed_forward_length", ffn)
                .u32("expert_count", experts).u32("expert_used_count", 2).u32("expert_shared_feed_forward_length", 24);
        t.drop("output.weight");
        for (int l = 0; l < layers; l++) {
            String p = "blk." + l + ".";
            t.gqa(p, heads, kvHeads, headDim, true, true);
            t.tensor(p + "ffn_norm.weight", 0.1, 1, EMBD);
            t.experts(p, experts, ffn, false);
            t.dense(p, 24, "_shexp");
        }
        return t;
    }

    // Granite MoE Shared in small: GQA with an output bias, normal RoPE, attention.scale, embedding, residual and
    // logit scales, every layer MoE (8 experts top-2, softmax, renormalised) plus a shared expert, tied output.
    static TinyArchFiles graniteMoe(long seed) {
        TinyArchFiles t = new TinyArchFiles("granitemoe", seed);
        int layers = 2, heads = 4, kvHeads = 2, headDim = 8, experts = 8, ffn = 16;
        t.common(layers, heads, kvHeads, 0).u32("feed_forward_length", ffn).u32("expert_count", experts).u32("expert_used_count", 2)
                .u32("expert_shared_feed_forward_length", 24).f32("logit_scale", 4f).f32("residual_scale", 0.5f)
                .f32("embedding_scale", 3f).f32("attention.scale", 0.25f);
        t.drop("output.weight");
        for (int l = 0; l < layers; l++) {
            String p = "blk." + l + ".";
            t.gqa(p, heads, kvHeads, headDim, false, false);
            t.tensor(p + "attn_output.bias", 0.3, 0, EMBD);
            t.tensor(p + "ffn_norm.weight", 0.1, 1, EMBD);
            t.experts(p, experts, ffn, false);
            t.dense(p, 24, "_shexp");
        }
        return t;
    }

    // Kimi-K2 (deepseek2) in small: Kimi's routing and layer plan (384 experts top-8, one dense layer, one shared
    // expert, sigmoid gating with exp_probs_b, expert_group_count 1 / used 1, renormalised x 2.827, q-LoRA MLA) and
    // its YaRN keys, with tiny widths.
    static final int KIMI_EXPERTS = 384;

    static TinyArchFiles kimiK2(long seed) {
        TinyArchFiles t = new TinyArchFiles("deepseek2", seed);
        int layers = 2, heads = 2, qLora = 24, kvLora = 16, nope = 8, rope = 8, dv = 8, ffnExp = 8;
        t.common(layers, heads, 1, 0).u32("feed_forward_length", 32)
                .u32("attention.q_lora_rank", qLora).u32("attention.kv_lora_rank", kvLora)
                .u32("attention.key_length", kvLora + rope).u32("attention.value_length", kvLora)
                .u32("attention.key_length_mla", nope + rope).u32("attention.value_length_mla", dv)
                .u32("rope.dimension_count", rope).u32("leading_dense_block_count", 1)
                .u32("expert_count", KIMI_EXPERTS).u32("expert_used_count", 8).u32("expert_shared_count", 1)
                .u32("expert_feed_forward_length", ffnExp).f32("expert_weights_scale", 2.827f).bool("expert_weights_norm", true)
                .u32("expert_gating_func", 2).u32("expert_group_count", 1).u32("expert_group_used_count", 1);
        // Kimi-K2's RoPE: base 50000, YaRN x32 over an original 4096 context, mscale_all_dim 1 (written x 0.1).
        t.f32("rope.freq_base", 50000f).f32("rope.scaling.factor", 32f).u32("rope.scaling.original_context_length", 4096)
                .f32("rope.scaling.yarn_log_multiplier", 0.1f);
        t.kv.put("deepseek2.rope.scaling.type", GgufValue.ofString("yarn"));
        t.kv.put("tokenizer.ggml.pre", GgufValue.ofString("kimi-k2"));
        for (int l = 0; l < layers; l++) {
            String p = "blk." + l + ".";
            t.tensor(p + "attn_norm.weight", 0.1, 1, EMBD);
            t.tensor(p + "attn_q_a.weight", 0.3, 0, EMBD, qLora);
            t.tensor(p + "attn_q_a_norm.weight", 0.1, 1, qLora);
            t.tensor(p + "attn_q_b.weight", 0.3, 0, qLora, heads * (nope + rope));
            t.tensor(p + "attn_kv_a_mqa.weight", 0.3, 0, EMBD, kvLora + rope);
            t.tensor(p + "attn_kv_a_norm.weight", 0.1, 1, kvLora);
            t.tensor(p + "attn_k_b.weight", 0.3, 0, nope, kvLora, heads);
            t.tensor(p + "attn_v_b.weight", 0.3, 0, kvLora, dv, heads);
            t.tensor(p + "attn_output.weight", 0.3, 0, heads * dv, EMBD);
            t.tensor(p + "ffn_norm.weight", 0.1, 1, EMBD);
            if (l == 0) {
                t.dense(p, 32, "");
            } else {
                t.experts(p, KIMI_EXPERTS, ffnExp, true);
                t.dense(p, ffnExp, "_shexp");
            }
        }
        return t;
    }

    // Llama-4 Scout in small, with the keys and tensors a converted Scout carries: 4 layers (0-2 chunked with RoPE and
    // q/k L2 norm, 3 full and NoPE with the temperature), every layer MoE (interleave step 1) with 8 experts top-1,
    // sigmoid routing applied to the expert input, one shared expert of expert_feed_forward_length, Llama-3
    // rope_freqs, key/value_length written out.
    static final int LLAMA4_LAYERS = 4, LLAMA4_HEADS = 4, LLAMA4_KV_HEADS = 2, LLAMA4_HEAD_DIM = 8;

    static TinyArchFiles llama4(long seed, int experts, int step) {
        TinyArchFiles t = new TinyArchFiles("llama4", seed);
        int ffn = 40, ffnExp = 12;
        t.common(LLAMA4_LAYERS, LLAMA4_HEADS, LLAMA4_KV_HEADS, LLAMA4_HEAD_DIM).u32("rope.dimension_count", LLAMA4_HEAD_DIM)
                .u32("feed_forward_length", ffn).u32("expert_count", experts).u32("expert_used_count", 1)
                .u32("expert_feed_forward_length", ffnExp).u32("interleave_moe_layer_step", step);
        t.tensorOf("rope_freqs.weight", new long[] {LLAMA4_HEAD_DIM / 2}, 1.5f, 3f, 6f, 8f);
        for (int l = 0; l < LLAMA4_LAYERS; l++) {
            String p = "blk." + l + ".";
            t.gqa(p, LLAMA4_HEADS, LLAMA4_KV_HEADS, LLAMA4_HEAD_DIM, false, false);
            t.tensor(p + "ffn_norm.weight", 0.1, 1, EMBD);
            if ((l + 1) % step == 0) {
                t.experts(p, experts, ffnExp, false);
                t.dense(p, ffnExp, "_shexp");
            } else {
                t.dense(p, ffn, "");
            }
        }
        return t;
    }

    // Llama-4 Maverick in small: 128 experts (llama.cpp's 17B_128E type: no q/k L2 norm) top-1, MoE every second
    // layer (dense SwiGLU between), no rope_freqs; plus the optional keys llama.cpp's llama4 loader reads and converted
    // files do not carry: attention.sliding_window_pattern 3 (layers 0, 1 and 3 chunked, 2 full; layer 3 NoPE and
    // chunked) and rope.freq_base_swa for the chunked layers. The router is scaled down so that the top-1 sigmoid weight
    // stays well below 1 (over 128 experts the best logit would otherwise give a weight of almost exactly 1, where
    // weighting the input or the output hardly differs).
    static TinyArchFiles llama4Maverick(long seed) {
        TinyArchFiles t = llama4(seed, 128, 2).drop("rope_freqs").u32("attention.sliding_window_pattern", 3).f32("rope.freq_base_swa", 500f);
        t.values.forEach((k, v) -> { if (k.endsWith("ffn_gate_inp.weight")) for (int i = 0; i < v.length; i++) v[i] *= 0.15f; });
        return t;
    }

    /** The reference file of {@code name} (glm4moe, dots1, ernie4_5-moe, bailingmoe2, hunyuan-moe, granitemoe, kimi-k2, llama4, llama4-maverick) with {@code mutation} applied. */
    static Path write(String name, Path dir, Consumer<TinyArchFiles> mutation) throws IOException {
        TinyArchFiles t = switch (name) {
            case "glm4moe" -> glm4moe(41);
            case "dots1" -> dots1(42);
            case "kimi-k2" -> kimiK2(43);
            case "ernie4_5-moe" -> ernie45Moe(44);
            case "bailingmoe2" -> bailingMoe2(45);
            case "hunyuan-moe" -> hunyuanMoe(46);
            case "granitemoe" -> graniteMoe(47);
            case "llama4" -> llama4(48, 8, 1);
            case "llama4-maverick" -> llama4Maverick(49);
            default -> throw new IllegalArgumentException(name);
        };
        mutation.accept(t);
        return t.write(dir.resolve(name + "-tiny.gguf"));
    }
}
