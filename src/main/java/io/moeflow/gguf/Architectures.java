package io.moeflow.gguf;

import java.util.Map;
import java.util.Set;
import java.util.TreeSet;

/** The model architectures (general.architecture values) moeflow can run. */
public final class Architectures {
    private Architectures() {}

    public static final Set<String> SUPPORTED_ARCHITECTURES = Set.of("llama", "qwen3moe", "qwen2moe", "olmoe", "deepseek2", "gpt-oss",
            "glm4moe", "dots1", "ernie4_5-moe", "bailingmoe2", "hunyuan-moe", "granitemoe", "llama4");

    /** Architectures users ask for that moeflow does not run, with the reason (named by inspect and by the loader). */
    public static final Map<String, String> UNSUPPORTED_REASONS = Map.of(
            "qwen3next", "its Gated DeltaNet linear-attention layers need a recurrent state per sequence beside the KV cache,"
                    + " which moeflow does not have (issue 14: skipped)");

    /**
     * Architectures whose last {@code <arch>.nextn_predict_layers} blocks are multi-token-prediction (MTP) blocks
     * that decoding skips: the ones of {@link #SUPPORTED_ARCHITECTURES} llama.cpp reads the key for
     * (src/models/deepseek2.cpp, glm4-moe.cpp, bailingmoe2.cpp: {@code n_layer = block_count - nextn_predict_layers}).
     */
    public static final Set<String> NEXTN_ARCHITECTURES = Set.of("deepseek2", "glm4moe", "bailingmoe2");

    /** The metadata key counting the MTP blocks appended to the decoder blocks. */
    public static String nextnKey(String architecture) {
        return architecture + ".nextn_predict_layers";
    }

    /** How many of the file's last blocks are MTP blocks decoding skips (0 when none, or for other architectures). */
    public static int nextnLayers(GgufFile f) {
        String arch = f.has("general.architecture") ? f.getString("general.architecture") : null;
        if (arch == null || !NEXTN_ARCHITECTURES.contains(arch)) return 0;
        int nextn = f.getInt(nextnKey(arch), 0);
        int blocks = f.getInt(arch + ".block_count");
        if (nextn < 0 || nextn >= blocks)
            throw new GgufException(f.path() + ": " + nextnKey(arch) + " = " + nextn + " must be at least 0 and below "
                    + arch + ".block_count = " + blocks);
        return nextn;
    }

    public static boolean isSupported(String architecture) {
        return architecture != null && SUPPORTED_ARCHITECTURES.contains(architecture);
    }

    /**
     * Why {@code architecture} cannot be run, for messages: "architecture X is not supported[: reason] (supported:
     * ...)"; empty when it is supported.
     */
    public static java.util.Optional<String> refusal(String architecture) {
        if (isSupported(architecture)) return java.util.Optional.empty();
        String reason = architecture == null ? null : UNSUPPORTED_REASONS.get(architecture);
        return java.util.Optional.of("architecture " + (architecture == null ? "(missing)" : architecture) + " is not supported"
                + (reason == null ? "" : ": " + reason) + " (supported: " + supportedList() + ")");
    }

    /** The supported names, sorted and comma-separated, for messages. */
    public static String supportedList() {
        return String.join(", ", new TreeSet<>(SUPPORTED_ARCHITECTURES));
    }
}
