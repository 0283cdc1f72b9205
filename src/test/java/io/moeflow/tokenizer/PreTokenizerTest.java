package io.moeflow.tokenizer;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

import io.moeflow.testing.SharedFiles;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;

/** The pre-tokenizer splits: llama.cpp's hand-written matchers against the regexes they implement. */
class PreTokenizerTest {

    private static List<String> words(PreTokenizer p, String text) {
        int[] cps = text.codePoints().toArray();
        List<String> words = new ArrayList<>();
        int pos = 0;
        for (int len : p.split(cps)) {
            words.add(new String(cps, pos, len));
            pos += len;
        }
        return words;
    }

    /** Every input of llama.cpp's tokenizer vectors, plus a few edge cases. */
    private static List<String> inputs() throws IOException {
        List<String> all = new ArrayList<>(List.of("I'M here'S 'll'VE", "a  \n\n  b\t\t", "x\u00A0\u2003y \u3000",
                "123456789 1 22", "¿¡Qué?!", "tab\t\tend  ", "a b  c \u0301d e\u0301 f", "x /\n'S 'Re", " \n \r\n  \t"));
        all.addAll(LlamaCppPreTokenizerVectorsTest.inputs("chosen"));
        Path dir = SharedFiles.require("tokenizer");
        try (Stream<Path> files = Stream.concat(Files.list(dir), Files.list(dir.resolve("vectors-without-vocab")))) {
            for (Path f : files.filter(f -> f.toString().endsWith(".inp")).sorted().toList()) {
                all.addAll(LlamaCppVocabVectorsTest.splitInputs(Files.readString(f, StandardCharsets.UTF_8)));
            }
        }
        return all;
    }

    @Test
    void handWrittenMatchersAgreeWithTheirRegexes() throws IOException {
        for (String regex : List.of(PreTokenizer.GPT2_REGEX, PreTokenizer.LLAMA3_REGEX, PreTokenizer.QWEN2_REGEX,
                PreTokenizer.QWEN35_REGEX, PreTokenizer.EXAONE_MOE_REGEX)) {
            PreTokenizer custom = new PreTokenizer(List.of(regex), true);
            PreTokenizer plain = new PreTokenizer(List.of(regex), false);
            for (String text : inputs()) {
                assertEquals(words(plain, text), words(custom, text), () -> regex + " on " + LlamaCppVocabVectorsTest.escape(text));
            }
        }
    }

    @Test
    void llama3SplitsDigitsInThreesAndKeepsContractions() {
        PreTokenizer p = new PreTokenizer(PreTokenizer.config("llama-bpe"));
        assertEquals(List.of("123", "456", "7", " I", "'M", " ok", "\n\n", " \t", " x"),
                words(p, "1234567 I'M ok\n\n \t x"));
    }

    @Test
    void collapsedRegexUsesLlamaCppStandIns() {
        assertEquals("[^\\s\u00D2A-Za-z\u00D10-9]+", PreTokenizer.collapseRegex("[^\\s\\p{L}\\p{N}]+"));
        assertEquals("[\u00D2A-Za-z]+", PreTokenizer.collapseRegex("\\p{L}+"));
        assertArrayEquals(new int[] {PreTokenizer.COLLAPSED_LETTER, PreTokenizer.COLLAPSED_NUMBER, 0x0B, 'a'},
                "é٣\u2003a".chars().map(PreTokenizer::collapse).toArray());
    }
}
