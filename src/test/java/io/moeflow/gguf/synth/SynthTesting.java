package io.moeflow.gguf.synth;

import io.moeflow.gguf.GgufFile;
import io.moeflow.gguf.GgufValue;
import java.nio.file.Path;
import java.util.Map;

/** Shared bits of the synth tests: the bundled vocabulary and tiny shapes. */
final class SynthTesting {
    private SynthTesting() {}

    static final Path VOCAB_MODEL = Path.of("models/stories260K/stories260K.gguf");

    static Map<String, GgufValue> tokenizer() {
        try (GgufFile f = GgufFile.open(VOCAB_MODEL)) {
            return SyntheticModel.tokenizerOf(f);
        }
    }

    /** qwen3moe with rows of 256 (so the K-quant rules apply without fallback), 2 layers, 4 experts top-2. */
    static SynthShape tinyMoe() {
        return new SynthShape("tiny-qwen3moe", "qwen3moe", 2, 256, 4, 2, 64, 0, 4, 2, 256, 512, 256, 1e6f, 1e-6f);
    }

    /** Dense llama with rows of 256, 2 layers. */
    static SynthShape tinyDense() {
        return new SynthShape("tiny-llama", "llama", 2, 256, 4, 2, 64, 256, 0, 0, 0, 512, 256, 10000f, 1e-5f);
    }

    /**
     * DeepSeek-V3 layout in small: 3 layers (1 dense), 4 heads of qk 64+32 and v 64, q-LoRA 256, KV latent 256
     * (rows of 256 where K-quants apply; attn_k_b's rows of 64 take llama-quantize's fallback), 16 experts of 256
     * top-4 in 4 groups top-2, 1 shared expert.
     */
    static SynthShape tinyDeepSeek2() {
        return new SynthShape("tiny-deepseek2", "deepseek2", 3, 256, 4, 1, 96, 512, 16, 4, 256, 512, 256, 10000f, 1e-6f,
                new SynthShape.Mla(256, 256, 32, 64, 1, 1, 4, 2, 2.5f));
    }

    static SyntheticModel model(SynthShape shape, SynthFileType type, long seed, RoutingSkew skew) {
        return new SyntheticModel(shape, type, seed, skew, tokenizer());
    }
}
