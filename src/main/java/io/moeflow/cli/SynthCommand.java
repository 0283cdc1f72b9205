package io.moeflow.cli;

import io.moeflow.gguf.GgufFile;
import io.moeflow.gguf.GgufValue;
import io.moeflow.gguf.synth.RoutingSkew;
import io.moeflow.gguf.synth.SynthFileType;
import io.moeflow.gguf.synth.SynthShape;
import io.moeflow.gguf.synth.SyntheticModel;
import java.io.IOException;
import java.net.URISyntaxException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/**
 * Writes a random-weight model of a preset or given shape with moeflow's GGUF writer and quantizers
 * ({@link SyntheticModel}); progress on stderr.
 */
@Command(name = "synth", description = "Write a random-weight qwen3moe, llama or deepseek2 model (presets bench-qwen3moe, bench-llama-dense,"
        + " bench-deepseek3).")
final class SynthCommand implements Callable<Integer> {
    static final String VOCAB_MODEL = "models/stories260K/stories260K.gguf";

    @Option(names = "--arch", description = "qwen3moe, llama or deepseek2 (default: the preset's).")
    String arch;

    @Option(names = "--preset", description = "bench-qwen3moe, bench-llama-dense or bench-deepseek3 (default: the benchmark preset of --arch).")
    String preset;

    @Option(names = "--layers") Integer layers;
    @Option(names = "--embd") Integer embd;
    @Option(names = "--heads") Integer heads;
    @Option(names = "--kv-heads") Integer kvHeads;
    @Option(names = "--head-dim", description = "deepseek2: query/key head width qk_nope + qk_rope.") Integer headDim;
    @Option(names = "--ffn", description = "Dense FFN width (llama; deepseek2's leading dense layers); qwen3moe: feed_forward_length metadata only.")
    Integer ffn;
    @Option(names = "--experts", description = "Experts per layer (llama: 0 = dense).") Integer experts;
    @Option(names = "--experts-used") Integer expertsUsed;
    @Option(names = "--expert-ffn") Integer expertFfn;
    @Option(names = "--vocab", description = "Must be 512: the tok512 vocabulary of stories260K.") Integer vocab;
    @Option(names = "--ctx") Integer ctx;
    @Option(names = "--rope-base") Float ropeBase;
    @Option(names = "--eps") Float eps;
    @Option(names = "--q-lora-rank", description = "deepseek2: query LoRA rank.") Integer qLoraRank;
    @Option(names = "--kv-lora-rank", description = "deepseek2: KV latent rank.") Integer kvLoraRank;
    @Option(names = "--rope-dims", description = "deepseek2: RoPE'd part of the query/key head (qk_rope).") Integer ropeDims;
    @Option(names = "--v-head-dim", description = "deepseek2: value head width.") Integer valueDim;
    @Option(names = "--dense-layers", description = "deepseek2: leading dense layers.") Integer denseLayers;
    @Option(names = "--shared-experts", description = "deepseek2: shared experts per MoE layer.") Integer sharedExperts;
    @Option(names = "--expert-groups", description = "deepseek2: expert groups.") Integer groups;
    @Option(names = "--expert-groups-used", description = "deepseek2: groups a token may choose experts from.") Integer groupsUsed;
    @Option(names = "--expert-weights-scale", description = "deepseek2: scale of the renormalised expert weights.") Float weightsScale;

    @Option(names = "--type", required = true, description = "Q8_0, Q4_K_M, IQ4_NL, IQ4_XS, F16 or F32 (llama-quantize's tensor types).")
    String type;

    @Option(names = "--seed", defaultValue = "1")
    long seed;

    @Option(names = "--skew", description = "Expert popularity: zipf:S (e.g. zipf:1.1) or none.")
    String skew;

    @Option(names = "--threads", defaultValue = "0", description = "Generating threads; 0 = available processors.")
    int threads;

    @Option(names = "--vocab-model", description = "GGUF whose tokenizer.ggml.* metadata is copied (default: the bundled " + VOCAB_MODEL + ").")
    Path vocabModel;

    @Option(names = "--out", required = true)
    Path out;

    @Override
    public Integer call() throws IOException {
        SynthShape shape = shape();
        SynthFileType fileType = SynthFileType.parse(type);
        RoutingSkew routing = RoutingSkew.parse(skew);
        int nThreads = CliSupport.threads(threads);
        Path vocabPath = vocabModel != null ? vocabModel : findVocabModel();
        Map<String, GgufValue> tokenizer;
        try (GgufFile f = GgufFile.open(vocabPath)) {
            tokenizer = SyntheticModel.tokenizerOf(f);
        }
        SyntheticModel model = new SyntheticModel(shape, fileType, seed, routing, tokenizer);
        if (out.getParent() != null) Files.createDirectories(out.getParent());
        System.err.printf(Locale.ROOT, "synth: %s %s, %d tensors, %.1f MiB of weights, seed %d, skew %s, %d threads -> %s%n",
                shape.name(), fileType, model.tensors().size(), model.tensorBytes() / 1048576.0, seed,
                routing == null ? "none" : routing.describe(), nThreads, out);
        long t0 = System.nanoTime();
        long[] lastPrint = {t0};
        model.write(out, nThreads, (i, n, name, written, total) -> {
            long now = System.nanoTime();
            if (now - lastPrint[0] > 1_000_000_000L || written == total) {
                lastPrint[0] = now;
                System.err.printf(Locale.ROOT, "synth: tensor %d/%d %s, %.1f / %.1f MB%n", i + 1, n, name, written / 1e6, total / 1e6);
            }
        });
        double secs = (System.nanoTime() - t0) / 1e9;
        long size = Files.size(out);
        System.err.printf(Locale.ROOT, "synth: wrote %s, %d bytes (%.2f GiB) in %.1f s%n", out, size, size / (double) (1L << 30), secs);
        return 0;
    }

    SynthShape shape() {
        SynthShape base;
        if (preset != null) {
            base = SynthShape.preset(preset);
            if (arch != null && !arch.equals(base.arch()))
                throw new IllegalArgumentException("--arch " + arch + " contradicts --preset " + preset + " (arch " + base.arch() + ")");
        } else if (arch != null) {
            base = SynthShape.defaultFor(arch);
        } else {
            throw new IllegalArgumentException("give --arch (" + String.join(", ", SynthShape.ARCHITECTURES) + ") or --preset ("
                    + String.join(", ", SynthShape.PRESETS) + ")");
        }
        boolean changed = layers != null || embd != null || heads != null || kvHeads != null || headDim != null || ffn != null
                || experts != null || expertsUsed != null || expertFfn != null || vocab != null || ctx != null
                || ropeBase != null || eps != null;
        boolean mlaChanged = qLoraRank != null || kvLoraRank != null || ropeDims != null || valueDim != null || denseLayers != null
                || sharedExperts != null || groups != null || groupsUsed != null || weightsScale != null;
        SynthShape.Mla m = base.mla();
        if (mlaChanged && m == null)
            throw new IllegalArgumentException("--q-lora-rank, --kv-lora-rank, --rope-dims, --v-head-dim, --dense-layers, --shared-experts,"
                    + " --expert-groups, --expert-groups-used and --expert-weights-scale apply to deepseek2 only, not " + base.arch());
        SynthShape.Mla mla = m == null ? null : new SynthShape.Mla(or(qLoraRank, m.qLoraRank()), or(kvLoraRank, m.kvLoraRank()),
                or(ropeDims, m.ropeDims()), or(valueDim, m.valueDim()), or(denseLayers, m.denseLayers()),
                or(sharedExperts, m.sharedExperts()), or(groups, m.groups()), or(groupsUsed, m.groupsUsed()),
                weightsScale != null ? weightsScale : m.weightsScale());
        String name = changed || mlaChanged ? "synth-" + base.arch() : base.name();
        return new SynthShape(name, base.arch(), or(layers, base.layers()), or(embd, base.embd()), or(heads, base.heads()),
                or(kvHeads, base.kvHeads()), or(headDim, base.headDim()), or(ffn, base.ffn()), or(experts, base.experts()),
                or(expertsUsed, base.expertsUsed()), or(expertFfn, base.expertFfn()), or(vocab, base.vocab()), or(ctx, base.ctx()),
                ropeBase != null ? ropeBase : base.ropeBase(), eps != null ? eps : base.eps(), mla).validate();
    }

    private static int or(Integer v, int def) {
        return v != null ? v : def;
    }

    /** The bundled stories260K model: under the working directory, or under the checkout the classes come from. */
    static Path findVocabModel() {
        Path cwd = Path.of(VOCAB_MODEL);
        if (Files.isRegularFile(cwd)) return cwd;
        try {
            Path p = Path.of(SynthCommand.class.getProtectionDomain().getCodeSource().getLocation().toURI());
            for (int up = 0; p != null && up < 5; up++, p = p.getParent()) {
                Path candidate = p.resolve(VOCAB_MODEL);
                if (Files.isRegularFile(candidate)) return candidate;
            }
        } catch (URISyntaxException | SecurityException | NullPointerException e) {
            // no code source location: only the working directory was searched
        }
        throw new IllegalArgumentException(VOCAB_MODEL + " not found (run from the moeflow checkout or give --vocab-model FILE)");
    }
}
