package io.moeflow.gguf.synth;

import io.moeflow.kernels.GgmlType;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Tensor types as llama.cpp's {@code llama-quantize} picks them by default (src/llama-quant.cpp:
 * {@code tensor_allows_quantization}, {@code llama_tensor_get_type_impl}, {@code tensor_type_fallback}) for the
 * file types synth writes, starting from F32 weights. Implemented rules:
 * <ul>
 *   <li>Only 2-D and 3-D tensors whose name ends in {@code weight} are converted; {@code *_norm.weight} and the
 *       routers {@code ffn_gate_inp.weight} keep their source type (F32), as do all 1-D tensors.</li>
 *   <li>{@link SynthFileType#F32}: everything F32. {@link SynthFileType#F16}: every converted tensor F16 (F16 is
 *       not a quantized type, so no mixture rule applies).</li>
 *   <li>{@link SynthFileType#Q8_0}: every converted tensor Q8_0, {@code token_embd} and {@code output}
 *       included.</li>
 *   <li>{@link SynthFileType#Q4_K_M}: base Q4_K ({@code token_embd} too: the model has a separate
 *       {@code output}, so the embedding is not treated as tied); {@code output.weight} Q6_K;
 *       {@code attn_v} and {@code ffn_down} / {@code ffn_down_exps} Q6_K in the layers where
 *       {@code use_more_bits(i, n)} holds ({@code i < n/8 || i >= 7n/8 || (i - n/8) % 3 == 2}, i the layer and
 *       n the layer count: llama-quantize counts attn_v tensors in its layer-sorted order, which is the layer);
 *       with exactly 8 experts, {@code attn_v} and {@code attn_k} Q8_0 and {@code attn_output} Q5_K.</li>
 *   <li>{@link SynthFileType#IQ4_NL}, {@link SynthFileType#IQ4_XS} (no importance matrix): base IQ4_NL / IQ4_XS
 *       ({@code token_embd} too); {@code output.weight} Q6_K; {@code attn_v} Q5_K when heads / kv heads >= 4;
 *       {@code ffn_down} / {@code ffn_down_exps} / {@code ffn_down_shexp} Q5_K in the layers {@code i < n/8};
 *       with exactly 8 experts, {@code attn_v} and {@code attn_k} Q8_0 and {@code attn_output} Q5_K.</li>
 *   <li>Fallback when the row length (ne[0]) is not a multiple of the type's block: {@code output} with such rows
 *       gets Q8_0; Q4_K becomes Q5_0, Q5_K Q5_1, Q6_K Q8_0, IQ4_XS IQ4_NL, and if even that block does not divide
 *       the row, F16. llama-quantize defines no fallback for Q8_0 and IQ4_NL and fails; so does this class.</li>
 * </ul>
 * deepseek2's MLA tensors ({@code attn_q_a}, {@code attn_q_b}, {@code attn_kv_a_mqa}, {@code attn_k_b},
 * {@code attn_v_b}) match none of llama-quantize's name rules, so they get the base type (or its fallback:
 * {@code attn_k_b} has rows of qk_nope); its {@code ffn_down_shexp} counts as {@code ffn_down}, and its
 * 1-D {@code exp_probs_b.bias} stays F32.
 * Not implemented (never reached by the shapes synth writes): the 70B attn_v rule, Falcon, attn_qkv / attn_kv_b,
 * and the rules of the other file types.
 */
public final class QuantRules {
    private QuantRules() {}

    private static final Pattern LAYER = Pattern.compile("blk\\.(\\d+)\\..*");

    /** llama.cpp's use_more_bits: the first and last eighth of the layers and every third one between. */
    static boolean useMoreBits(int layer, int layers) {
        return layer < layers / 8 || layer >= 7 * layers / 8 || (layer - layers / 8) % 3 == 2;
    }

    /**
     * The type llama-quantize gives tensor {@code name} of shape {@code ne} in a model of {@code layers} layers,
     * {@code experts} experts (0 for dense) and {@code gqa} query heads per KV head when converting F32 weights to
     * {@code fileType}.
     */
    public static GgmlType typeFor(String name, long[] ne, SynthFileType fileType, int layers, int experts, int gqa) {
        if (fileType == SynthFileType.F32 || !allowsQuantization(name, ne)) return GgmlType.F32;
        if (!fileType.quantized()) return fileType.baseType;
        GgmlType t = fileType.baseType;
        boolean q4km = fileType == SynthFileType.Q4_K_M;
        boolean iq4 = fileType == SynthFileType.IQ4_NL || fileType == SynthFileType.IQ4_XS;
        if (name.equals("output.weight")) {
            if (ne[0] % t.blockSize != 0) t = GgmlType.Q8_0;
            else if (t != GgmlType.Q8_0) t = GgmlType.Q6_K;
        } else if (name.contains("attn_v.weight")) {
            if (iq4 && gqa >= 4) t = GgmlType.Q5_K;
            if (q4km && useMoreBits(layer(name), layers)) t = GgmlType.Q6_K;
            if (experts == 8) t = GgmlType.Q8_0;
        } else if (name.contains("attn_k.weight")) {
            if (experts == 8) t = GgmlType.Q8_0;
        } else if (name.contains("attn_output.weight")) {
            if ((q4km || iq4) && experts == 8) t = GgmlType.Q5_K;
        } else if (name.contains("ffn_down")) {
            if (q4km && useMoreBits(layer(name), layers)) t = GgmlType.Q6_K;
            if (iq4 && layer(name) < layers / 8) t = GgmlType.Q5_K;
        }
        return fallback(name, ne[0], t);
    }

    static boolean allowsQuantization(String name, long[] ne) {
        return ne.length >= 2 && name.endsWith("weight") && !name.contains("_norm.weight")
                && !name.contains("ffn_gate_inp.weight");
    }

    private static GgmlType fallback(String name, long ncols, GgmlType t) {
        if (ncols % t.blockSize == 0) return t;
        GgmlType f = switch (t) {
            case Q4_K -> GgmlType.Q5_0;
            case Q5_K -> GgmlType.Q5_1;
            case Q6_K -> GgmlType.Q8_0;
            case IQ4_XS -> GgmlType.IQ4_NL;
            default -> throw new IllegalArgumentException("tensor '" + name + "': row length " + ncols
                    + " is not a multiple of the " + t + " block size " + t.blockSize + " and llama-quantize defines no fallback for " + t);
        };
        return ncols % f.blockSize == 0 ? f : GgmlType.F16;
    }

    private static int layer(String name) {
        Matcher m = LAYER.matcher(name);
        if (!m.matches()) throw new IllegalArgumentException("tensor '" + name + "' has no layer number");
        return Integer.parseInt(m.group(1));
    }
}
