package io.moeflow.gguf;

import java.util.Set;
import java.util.TreeSet;

/** The model architectures (general.architecture values) moeflow can run. */
public final class Architectures {
    private Architectures() {}

    public static final Set<String> SUPPORTED_ARCHITECTURES = Set.of("llama", "qwen3moe", "qwen2moe", "olmoe", "deepseek2", "gpt-oss");

    public static boolean isSupported(String architecture) {
        return architecture != null && SUPPORTED_ARCHITECTURES.contains(architecture);
    }

    /** The supported names, sorted and comma-separated, for messages. */
    public static String supportedList() {
        return String.join(", ", new TreeSet<>(SUPPORTED_ARCHITECTURES));
    }
}
