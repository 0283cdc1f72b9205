package io.moeflow.testing;

import io.moeflow.gguf.GgufFile;
import io.moeflow.gguf.GgufValue;
import io.moeflow.gguf.synth.SynthFileType;
import io.moeflow.gguf.synth.SynthShape;
import io.moeflow.gguf.synth.SyntheticModel;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;

/**
 * A tiny random-weight qwen3moe GGUF (Q8_0, 2 layers of 8 experts top-2, ~3.4 MB, tokenizable with the bundled
 * stories260K vocabulary), written once per test JVM with the synth code, so that tests of the expert store's
 * wiring need nothing from ../shared.
 */
public final class TinySynthMoe {
    private TinySynthMoe() {}

    /** Rows of 256 so Q8_0 applies to every matrix; 16 experts of ~210 KB in all. */
    public static final SynthShape SHAPE = new SynthShape("tiny-moe-wiring", "qwen3moe", 2, 256, 4, 2, 64, 0, 8, 2, 256,
            512, 256, 1e6f, 1e-6f);

    private static final java.util.EnumMap<SynthFileType, Path> files = new java.util.EnumMap<>(SynthFileType.class);

    /** The model file in Q8_0 (a temporary file deleted when the JVM exits). */
    public static Path path() {
        return path(SynthFileType.Q8_0);
    }

    /** The same weights in another file type (a temporary file deleted when the JVM exits). */
    public static synchronized Path path(SynthFileType type) {
        Path file = files.get(type);
        if (file != null) return file;
        try {
            Map<String, GgufValue> tokenizer;
            try (GgufFile vocab = GgufFile.open(Path.of("models/stories260K/stories260K.gguf"))) {
                tokenizer = SyntheticModel.tokenizerOf(vocab);
            }
            Path out = Files.createTempFile("tiny-moe-wiring-", ".gguf");
            out.toFile().deleteOnExit();
            new SyntheticModel(SHAPE, type, 11, null, tokenizer).write(out, 1, null);
            files.put(type, out);
            return out;
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }
}
