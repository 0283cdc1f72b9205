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
            "deepseek-llm", "falcon", "gpt-2", "mpt", "refact", "starcoder",
            // vocabularies of MoE models rebuilt from their tokenizer.json (../shared/tokenizer/real-moe/README.md)
            "real-moe/qwen2", "real-moe/deepseek-v3", "real-moe/gpt-4o");
    /** The real-moe vocabularies with llama.cpp's ids for the 149-input extra corpus, parse_special off and on. */
    private static final List<String> CORPUS_VOCABS = List.of("qwen2", "deepseek-v3", "gpt-4o");

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
            Path file = dir.resolve(vocabFile(vocab));
            addCases(all, vocab, file.resolveSibling(file.getFileName() + ".inp"),
                    file.resolveSibling(file.getFileName() + ".out"));
        }
        return all.stream();
    }

    /** ggml-vocab-NAME.gguf, in a subdirectory where the name has one ("real-moe/qwen2"). */
    private static String vocabFile(String vocab) {
        int slash = vocab.lastIndexOf('/');
        return vocab.substring(0, slash + 1) + "ggml-vocab-" + vocab.substring(slash + 1) + ".gguf";
    }

    private static void addCases(List<Arguments> all, String vocab, Path inp, Path out) throws IOException {
        if (!Files.exists(inp) || !Files.exists(out)) {
            all.add(Arguments.of(new Case(vocab, -1, null, null)));
            return;
        }
        List<String> inputs = splitInputs(Files.readString(inp, StandardCharsets.UTF_8));
        List<String> lines = Files.readAllLines(out, StandardCharsets.UTF_8);
        assertEquals(inputs.size(), lines.size(), vocab + ": inputs vs expected lines");
        for (int i = 0; i < inputs.size(); i++) {
            all.add(Arguments.of(new Case(vocab, i, inputs.get(i), LlamaCppPreTokenizerVectorsTest.numbers(lines.get(i)))));
        }
    }

    /** The extra corpus: cases named "VOCAB parse_special=0|1". */
    static Stream<Arguments> corpusCases() throws IOException {
        Path dir = SharedFiles.root().resolve("tokenizer/real-moe");
        List<Arguments> all = new ArrayList<>();
        for (String vocab : CORPUS_VOCABS) {
            for (int special = 0; special <= 1; special++) {
                addCases(all, "real-moe/" + vocab + " parse_special=" + special, dir.resolve("extra-corpus/corpus.inp"),
                        dir.resolve("extra-corpus/" + vocab + ".parse_special" + special + ".out"));
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
        check(c, TokenizerTestFiles.vocabTokenizerAt(vocabFile(c.vocab())), false);
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("corpusCases")
    void encodesTheExtraCorpusLikeLlamaCpp(Case c) {
        Assumptions.assumeTrue(c.input() != null, "vectors missing for " + c.vocab());
        String[] vocabAndMode = c.vocab().split(" ");
        check(c, TokenizerTestFiles.vocabTokenizerAt(vocabFile(vocabAndMode[0])), vocabAndMode[1].endsWith("=1"));
    }

    private static void check(Case c, Tokenizer t, boolean parseSpecial) {
        int[] actual = t.encode(c.input(), false, parseSpecial);
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
