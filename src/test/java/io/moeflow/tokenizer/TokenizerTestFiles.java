package io.moeflow.tokenizer;

import io.moeflow.gguf.GgufFile;
import io.moeflow.testing.SharedFiles;
import java.nio.file.Path;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;

/** Vocabularies of the GGUF test files, read once per test JVM (the large ones take a while to parse). */
final class TokenizerTestFiles {
    private static final Map<Path, Vocabulary> VOCABULARIES = new ConcurrentHashMap<>();
    private static final Map<String, Tokenizer> TOKENIZERS = new ConcurrentHashMap<>();

    private TokenizerTestFiles() {}

    static Vocabulary vocabulary(Path gguf) {
        return VOCABULARIES.computeIfAbsent(gguf, p -> {
            try (GgufFile f = GgufFile.open(p)) {
                return Vocabulary.fromGguf(f);
            }
        });
    }

    /** The tokenizer of ../shared/tokenizer/ggml-vocab-NAME.gguf; skips the test when ../shared is absent. */
    static Tokenizer vocabTokenizer(String name) {
        return vocabTokenizerAt("ggml-vocab-" + name + ".gguf");
    }

    /** The tokenizer of ../shared/tokenizer/PATH (a vocab GGUF); skips the test when it is absent. */
    static Tokenizer vocabTokenizerAt(String path) {
        Path file = SharedFiles.require("tokenizer/" + path);
        return TOKENIZERS.computeIfAbsent(path, n -> Tokenizer.of(vocabulary(file)));
    }
}
