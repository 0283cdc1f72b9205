package io.moeflow.gguf.synth;

import java.util.List;
import java.util.Locale;

/**
 * The shape of a synthetic model: architecture and hyper-parameters, as written to the GGUF metadata.
 *
 * <p>{@code qwen3moe}: every layer is MoE ({@code experts} of width {@code expertFfn}, top {@code expertsUsed});
 * {@code ffn} is only metadata ({@code feed_forward_length}), 0 meaning {@code expertFfn * expertsUsed} as in
 * Qwen3-30B-A3B. {@code llama}: dense SwiGLU of width {@code ffn} when {@code experts == 0}, otherwise
 * Mixtral-style experts of width {@code expertFfn} (written as {@code feed_forward_length}, as llama.cpp reads
 * the expert width of this architecture from it).
 */
public record SynthShape(String name, String arch, int layers, int embd, int heads, int kvHeads, int headDim, int ffn,
                         int experts, int expertsUsed, int expertFfn, int vocab, int ctx, float ropeBase, float eps) {

    public static final List<String> ARCHITECTURES = List.of("qwen3moe", "llama");
    public static final List<String> PRESETS = List.of("bench-qwen3moe", "bench-llama-dense");

    /** The two benchmark shapes of ../shared/bench/README.md. */
    public static SynthShape preset(String preset) {
        return switch (preset.trim().toLowerCase(Locale.ROOT)) {
            case "bench-qwen3moe" -> new SynthShape("bench-qwen3moe", "qwen3moe", 16, 1024, 16, 4, 64, 0, 64, 8, 512,
                    512, 4096, 1e6f, 1e-6f);
            case "bench-llama-dense" -> new SynthShape("bench-llama-dense", "llama", 16, 1024, 16, 4, 64, 4096, 0, 0, 0,
                    512, 4096, 10000f, 1e-5f);
            default -> throw new IllegalArgumentException("unknown --preset '" + preset + "' (supported: " + String.join(", ", PRESETS) + ")");
        };
    }

    /** The shape an architecture gets when no preset is named: its benchmark preset. */
    public static SynthShape defaultFor(String arch) {
        return switch (checkArch(arch)) {
            case "qwen3moe" -> preset("bench-qwen3moe");
            default -> preset("bench-llama-dense");
        };
    }

    static String checkArch(String arch) {
        if (arch == null || !ARCHITECTURES.contains(arch))
            throw new IllegalArgumentException("unknown --arch '" + arch + "' (supported: " + String.join(", ", ARCHITECTURES) + ")");
        return arch;
    }

    public boolean moe() {
        return experts > 0;
    }

    /** Width of the attention's query (and output) projection. */
    public int qDim() {
        return heads * headDim;
    }

    public int kvDim() {
        return kvHeads * headDim;
    }

    /** {@code feed_forward_length} as written: see the class comment. */
    public int feedForwardLength() {
        if (arch.equals("llama")) return moe() ? expertFfn : ffn;
        return ffn > 0 ? ffn : expertFfn * expertsUsed;
    }

    /** Fails with a message naming the first bad hyper-parameter. */
    public SynthShape validate() {
        checkArch(arch);
        positive("--layers", layers);
        positive("--embd", embd);
        positive("--heads", heads);
        positive("--kv-heads", kvHeads);
        positive("--head-dim", headDim);
        positive("--vocab", vocab);
        positive("--ctx", ctx);
        if (heads % kvHeads != 0)
            throw new IllegalArgumentException("--heads " + heads + " must be a multiple of --kv-heads " + kvHeads);
        if (headDim % 2 != 0) throw new IllegalArgumentException("--head-dim " + headDim + " must be even (RoPE rotates pairs)");
        if (!(ropeBase > 0) || !Float.isFinite(ropeBase)) throw new IllegalArgumentException("--rope-base must be positive, got " + ropeBase);
        if (!(eps > 0) || !Float.isFinite(eps)) throw new IllegalArgumentException("--eps must be positive, got " + eps);
        if (experts < 0) throw new IllegalArgumentException("--experts must be >= 0, got " + experts);
        if (arch.equals("qwen3moe") && experts == 0) throw new IllegalArgumentException("qwen3moe needs --experts > 0");
        if (moe()) {
            if (expertsUsed < 1 || expertsUsed > experts)
                throw new IllegalArgumentException("--experts-used must be in [1, --experts " + experts + "], got " + expertsUsed);
            positive("--expert-ffn", expertFfn);
            if (ffn < 0) throw new IllegalArgumentException("--ffn must be >= 0, got " + ffn);
        } else {
            positive("--ffn", ffn);
        }
        return this;
    }

    private static void positive(String option, int v) {
        if (v <= 0) throw new IllegalArgumentException(option + " must be positive, got " + v);
    }

    /** Weights written (all tensors), for size estimates. */
    public long parameterCount() {
        long attn = (long) embd * qDim() * 2 + (long) embd * kvDim() * 2;
        long norms = 2L * embd + (arch.equals("qwen3moe") ? 2L * headDim : 0);
        long ffnParams = moe() ? (long) experts * 3 * embd * expertFfn + (long) experts * embd : 3L * embd * ffn;
        return layers * (attn + norms + ffnParams) + 2L * vocab * embd + embd;
    }
}
