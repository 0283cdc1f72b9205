package io.moeflow.tokenizer;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

import io.moeflow.testing.SharedFiles;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * llama.cpp's tokenizer regression vectors (tests/test-tokenizer-0): every input of every
 * ggml-vocab-*.gguf in ../shared/tokenizer, encoded without special tokens, must give exactly the
 * ids llama.cpp (and the original Hugging Face tokenizer) gives.
 */
class LlamaCppVocabVectorsTest {
    private static final String SEPARATOR = "\n__ggml_vocab_test__\n";
    private static final List<String> VOCABS = List.of("llama-spm", "phi-3", "bert-bge", "deepseek-coder",
            "deepseek-llm", "falcon", "gpt-2", "mpt", "refact", "starcoder");

    record Case(String vocab, int index, String input, int[] expected) {
        @Override
        public String toString() {
            return vocab + " #" + index + " " + escape(input);
        }
    }

    static Stream<Arguments> cases() throws IOException {
        Path dir = SharedFiles.root().resolve("tokenizer");
        List<Arguments> all = new ArrayList<>();
        for (String vocab : VOCABS) {
            Path inp = dir.resolve("ggml-vocab-" + vocab + ".gguf.inp");
            Path out = dir.resolve("ggml-vocab-" + vocab + ".gguf.out");
            if (!Files.exists(inp) || !Files.exists(out)) {
                all.add(Arguments.of(new Case(vocab, -1, null, null)));
                continue;
            }
            List<String> inputs = splitInputs(Files.readString(inp, StandardCharsets.UTF_8));
            List<String> lines = Files.readAllLines(out, StandardCharsets.UTF_8);
            assertEquals(inputs.size(), lines.size(), vocab + ": inputs vs expected lines");
            for (int i = 0; i < inputs.size(); i++) {
                String line = lines.get(i).strip();
                int[] ids = line.isEmpty() ? new int[0] : Arrays.stream(line.split(" ")).mapToInt(Integer::parseInt).toArray();
                all.add(Arguments.of(new Case(vocab, i, inputs.get(i), ids)));
            }
        }
        return all.stream();
    }

    /** The inputs between separators; nothing after the last separator is an input. */
    static List<String> splitInputs(String text) {
        List<String> inputs = new ArrayList<>();
        int pos = 0;
        for (int sep = text.indexOf(SEPARATOR); sep >= 0; sep = text.indexOf(SEPARATOR, pos)) {
            inputs.add(text.substring(pos, sep));
            pos = sep + SEPARATOR.length();
        }
        return inputs;
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("cases")
    void encodesLikeLlamaCpp(Case c) {
        Assumptions.assumeTrue(c.input() != null, "vectors missing for " + c.vocab());
        Assumptions.assumeFalse(c.vocab().equals("bert-bge"),
                "WordPiece (tokenizer.ggml.model 'bert') is not implemented: moeflow serves decoder models only");
        Tokenizer t = TokenizerTestFiles.vocabTokenizer(c.vocab());
        int[] actual = t.encode(c.input(), false, false);
        assertArrayEquals(c.expected(), actual, () -> c + "\n expected " + Arrays.toString(c.expected())
                + "\n actual   " + Arrays.toString(actual));
    }

    static String escape(String s) {
        StringBuilder b = new StringBuilder("\"");
        s.codePoints().limit(40).forEach(cp -> {
            if (cp == '\n') {
                b.append("\\n");
            } else if (cp == '\t') {
                b.append("\\t");
            } else if (cp == '\r') {
                b.append("\\r");
            } else {
                b.appendCodePoint(cp);
            }
        });
        return b.append(s.codePointCount(0, s.length()) > 40 ? "...\"" : "\"").toString();
    }
}
