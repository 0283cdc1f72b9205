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
 *
 * <p>{@code deepseek2} (DeepSeek-V3 layout): {@link #mla} holds the latent-attention and routing settings;
 * {@code kvHeads} is 1 (MLA is written as MQA), {@code headDim} is the query/key head width
 * {@code qk_nope + qk_rope} ({@code key_length_mla}), {@code ffn} the width of the leading dense layers and
 * {@code expertFfn} that of the routed and shared experts.
 */
public record SynthShape(String name, String arch, int layers, int embd, int heads, int kvHeads, int headDim, int ffn,
                         int experts, int expertsUsed, int expertFfn, int vocab, int ctx, float ropeBase, float eps, Mla mla) {

    public static final List<String> ARCHITECTURES = List.of("qwen3moe", "llama", "deepseek2");
    public static final List<String> PRESETS = List.of("bench-qwen3moe", "bench-llama-dense", "bench-deepseek3");

    /**
     * DeepSeek-V3's attention and routing settings: q-LoRA rank, KV latent rank, RoPE'd head part, value head
     * width, leading dense layers, shared experts, expert groups and groups used; sigmoid gating with a selection
     * bias ({@code exp_probs_b}), renormalised weights scaled by {@code weightsScale}.
     */
    public record Mla(int qLoraRank, int kvLoraRank, int ropeDims, int valueDim, int denseLayers, int sharedExperts,
                      int groups, int groupsUsed, float weightsScale) {}

    /** A shape without MLA settings (qwen3moe, llama). */
    public SynthShape(String name, String arch, int layers, int embd, int heads, int kvHeads, int headDim, int ffn,
                      int experts, int expertsUsed, int expertFfn, int vocab, int ctx, float ropeBase, float eps) {
        this(name, arch, layers, embd, heads, kvHeads, headDim, ffn, experts, expertsUsed, expertFfn, vocab, ctx, ropeBase, eps, null);
    }

    /** The two benchmark shapes of ../shared/bench/README.md. */
    public static SynthShape preset(String preset) {
        return switch (preset.trim().toLowerCase(Locale.ROOT)) {
            case "bench-qwen3moe" -> new SynthShape("bench-qwen3moe", "qwen3moe", 16, 1024, 16, 4, 64, 0, 64, 8, 512,
                    512, 4096, 1e6f, 1e-6f);
            case "bench-llama-dense" -> new SynthShape("bench-llama-dense", "llama", 16, 1024, 16, 4, 64, 4096, 0, 0, 0,
                    512, 4096, 10000f, 1e-5f);
            // DeepSeek-V3 (7168 wide, 61 layers, 3 dense, 128 heads, q-LoRA 1536, KV latent 512, qk 128+64, v 128,
            // 256 experts of 2048 top-8 in 8 groups top-4, dense FFN 18432 = 9 expert widths, 1 shared expert) scaled
            // to ~1.2 G parameters: heads /8, head and latent widths /2, experts /4 (same top-8, groups and
            // experts per group /4), expert width /4, dense FFN 9 expert widths.
            case "bench-deepseek3" -> new SynthShape("bench-deepseek3", "deepseek2", 12, 1024, 16, 1, 96, 4608, 64, 8, 512,
                    512, 4096, 10000f, 1e-6f, new Mla(768, 256, 32, 64, 1, 1, 8, 4, 2.5f));
            default -> throw new IllegalArgumentException("unknown --preset '" + preset + "' (supported: " + String.join(", ", PRESETS) + ")");
        };
    }

    /** The shape an architecture gets when no preset is named: its benchmark preset. */
    public static SynthShape defaultFor(String arch) {
        return switch (checkArch(arch)) {
            case "qwen3moe" -> preset("bench-qwen3moe");
            case "deepseek2" -> preset("bench-deepseek3");
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

    public boolean deepseek2() {
        return arch.equals("deepseek2");
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
        if (deepseek2()) return ffn;
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
        if (deepseek2()) validateMla();
        else if (mla != null) throw new IllegalArgumentException(arch + " takes no MLA settings (deepseek2 only)");
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

    private void validateMla() {
        if (mla == null) throw new IllegalArgumentException("deepseek2 needs its MLA settings (q/kv LoRA ranks, rope dims, ...)");
        if (kvHeads != 1) throw new IllegalArgumentException("deepseek2 writes MLA as MQA: --kv-heads must be 1, got " + kvHeads);
        if (experts == 0) throw new IllegalArgumentException("deepseek2 needs --experts > 0");
        positive("--q-lora-rank", mla.qLoraRank());
        positive("--kv-lora-rank", mla.kvLoraRank());
        positive("--rope-dims", mla.ropeDims());
        positive("--v-head-dim", mla.valueDim());
        positive("--shared-experts", mla.sharedExperts());
        positive("--expert-groups", mla.groups());
        positive("--expert-groups-used", mla.groupsUsed());
        if (mla.ropeDims() % 2 != 0) throw new IllegalArgumentException("--rope-dims " + mla.ropeDims() + " must be even (RoPE rotates pairs)");
        if (mla.ropeDims() >= headDim)
            throw new IllegalArgumentException("--rope-dims " + mla.ropeDims() + " must be less than --head-dim " + headDim + " (qk_nope + qk_rope)");
        if (mla.denseLayers() < 0 || mla.denseLayers() >= layers)
            throw new IllegalArgumentException("--dense-layers must be in [0, --layers " + layers + "), got " + mla.denseLayers());
        if (mla.denseLayers() > 0) positive("--ffn", ffn);
        if (experts % mla.groups() != 0)
            throw new IllegalArgumentException("--experts " + experts + " must be a multiple of --expert-groups " + mla.groups());
        if (mla.groupsUsed() > mla.groups())
            throw new IllegalArgumentException("--expert-groups-used " + mla.groupsUsed() + " exceeds --expert-groups " + mla.groups());
        if (expertsUsed > mla.groupsUsed() * (experts / mla.groups()))
            throw new IllegalArgumentException("--experts-used " + expertsUsed + " exceeds the experts of the " + mla.groupsUsed() + " groups used");
        if (!(mla.weightsScale() > 0) || !Float.isFinite(mla.weightsScale()))
            throw new IllegalArgumentException("--expert-weights-scale must be positive, got " + mla.weightsScale());
    }

    private static void positive(String option, int v) {
        if (v <= 0) throw new IllegalArgumentException(option + " must be positive, got " + v);
    }

    /** Weights written (all tensors), for size estimates. */
    public long parameterCount() {
        if (deepseek2()) return deepseek2ParameterCount();
        long attn = (long) embd * qDim() * 2 + (long) embd * kvDim() * 2;
        long norms = 2L * embd + (arch.equals("qwen3moe") ? 2L * headDim : 0);
        long ffnParams = moe() ? (long) experts * 3 * embd * expertFfn + (long) experts * embd : 3L * embd * ffn;
        return layers * (attn + norms + ffnParams) + 2L * vocab * embd + embd;
    }

    private long deepseek2ParameterCount() {
        long e = embd, r = mla.kvLoraRank(), q = mla.qLoraRank();
        long attn = e * q + q + q * heads * headDim + e * (r + mla.ropeDims()) + r
                + (long) (headDim - mla.ropeDims()) * r * heads + r * mla.valueDim() * heads + (long) heads * mla.valueDim() * e;
        long moe = (long) experts * 3 * e * expertFfn + e * experts + experts + 3L * e * expertFfn * mla.sharedExperts();
        long dense = 3L * e * ffn;
        int denseLayers = mla.denseLayers();
        return layers * (attn + 2 * e) + denseLayers * dense + (long) (layers - denseLayers) * moe + 2L * vocab * e + e;
    }
}
