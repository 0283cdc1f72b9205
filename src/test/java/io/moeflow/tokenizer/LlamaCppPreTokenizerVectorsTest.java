package io.moeflow.tokenizer;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.moeflow.testing.SharedFiles;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;
import java.util.zip.GZIPInputStream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * Every pre-tokenizer type against llama.cpp itself (commit 34af94cd9ab2). The expected data in
 * src/test/resources/io/moeflow/tokenizer/llama-cpp-pretokenizers was written by that directory's generate.sh,
 * which links two small programs against llama.cpp's libllama: one calls llama.cpp's own unicode_regex_split
 * with the regex list llm_tokenizer_bpe uses for the type (copied from src/llama-vocab.cpp by the script), the
 * other runs llama_tokenize (add_special and parse_special off) on a real vocabulary loaded with
 * tokenizer.ggml.pre overridden to the type. Nothing here is moeflow's own earlier output.
 *
 * <p>Inputs: chosen.inp (in the repository; numbers of 1 to 7 digits, other-script digits, contractions in
 * both cases, camel case, combining marks, punctuation runs, newline and whitespace runs, CJK, kana, Hangul,
 * Thai, Han outside the BMP, emoji and ZWJ sequences, mixed scripts; make-chosen-inp.py writes it), llama.cpp's
 * 46 standard tokenizer inputs and the 149-input extra corpus (both from ../shared, skipped when absent).
 */
class LlamaCppPreTokenizerVectorsTest {
    private static final String RESOURCES = "/io/moeflow/tokenizer/llama-cpp-pretokenizers/";
    /** The types MoE files declare that moeflow gained for issue 17; ids were generated for each. */
    static final List<String> NEW_TYPES = List.of("kimi-k2", "glm4", "gigachat", "kanana2", "tekken", "minimax-m2",
            "qwen35", "hunyuan", "bailingmoe", "bailingmoe2", "grok-2", "afmoe", "exaone-moe", "lfm2", "cohere2moe");
    /** Types moeflow knew before, split-checked too (generate.sh lists the llama.cpp type of each name). */
    private static final List<String> EARLIER_TYPES = List.of("default", "gpt-2", "mpt", "olmo", "llama-bpe", "dbrx",
            "smaug-bpe", "deepseek-llm", "deepseek-coder", "deepseek-v3", "falcon", "starcoder", "refact", "command-r",
            "smollm", "codeshell", "exaone", "minerva-7b", "qwen2", "stablelm2", "gpt-4o", "llama4");
    private static final List<String> VOCABS = List.of("qwen2", "deepseek-v3", "gpt-4o");
    private static final List<String> SETS = List.of("chosen", "std", "corpus");

    static Stream<Arguments> splitCases() {
        return Stream.concat(NEW_TYPES.stream(), EARLIER_TYPES.stream())
                .flatMap(pre -> SETS.stream().map(set -> Arguments.of(pre, set)));
    }

    static Stream<Arguments> encodeCases() {
        return NEW_TYPES.stream().flatMap(pre -> VOCABS.stream()
                .flatMap(vocab -> Stream.of("chosen", "std").map(set -> Arguments.of(pre, vocab, set))));
    }

    @ParameterizedTest(name = "{0} on {1}")
    @MethodSource("splitCases")
    void splitsLikeLlamaCpp(String pre, String set) throws IOException {
        List<String> inputs = inputs(set);
        List<String> expected = resourceLines("splits/" + pre + "." + set + (set.equals("corpus") ? ".out.gz" : ".out"));
        assertEquals(inputs.size(), expected.size(), "inputs vs expected lines");
        PreTokenizer p = new PreTokenizer(PreTokenizer.config(pre));
        for (int i = 0; i < inputs.size(); i++) {
            int[] cps = inputs.get(i).codePoints().toArray();
            int[] want = numbers(expected.get(i));
            int[] got = p.split(cps);
            if (!Arrays.equals(want, got)) {
                throw new AssertionError(pre + " " + set + " #" + i + " " + LlamaCppVocabVectorsTest.escape(inputs.get(i))
                        + "\n expected " + pieces(cps, want) + "\n actual   " + pieces(cps, got));
            }
        }
    }

    @ParameterizedTest(name = "{0} with the {1} vocabulary on {2}")
    @MethodSource("encodeCases")
    void encodesLikeLlamaCpp(String pre, String vocab, String set) throws IOException {
        List<String> inputs = inputs(set);
        List<String> expected = resourceLines("ids/" + pre + "." + vocab + "." + set + ".out");
        assertEquals(inputs.size(), expected.size(), "inputs vs expected lines");
        Vocabulary v = TokenizerTestFiles.vocabulary(SharedFiles.require("tokenizer/real-moe/ggml-vocab-" + vocab + ".gguf"));
        Tokenizer t = Tokenizer.of(withPre(v, pre));
        for (int i = 0; i < inputs.size(); i++) {
            int[] want = numbers(expected.get(i));
            int[] got = t.encode(inputs.get(i), false, false);
            int index = i;
            assertArrayEquals(want, got, () -> pre + " " + vocab + " " + set + " #" + index + " "
                    + LlamaCppVocabVectorsTest.escape(inputs.get(index)) + "\n expected " + Arrays.toString(want)
                    + "\n actual   " + Arrays.toString(got));
        }
    }

    /**
     * clean_spaces per type: llama_detokenize(remove_special = false, unparse_special = false) of llama_tokenize's
     * ids for this text, on the qwen2 vocabulary with tokenizer.ggml.pre overridden (a third small program like
     * generate.sh's tok, run once; its outputs are these two strings).
     */
    @ParameterizedTest(name = "{0}")
    @MethodSource("newTypes")
    void decodesLikeLlamaCpp(String pre) {
        String text = "Hello , world ! It 's a test . Isn 't it ? x n't";
        String cleaned = "Hello, world! It's a test. Isn 't it? x n't";
        boolean cleans = List.of("glm4", "gigachat", "exaone-moe", "lfm2").contains(pre);
        Vocabulary v = TokenizerTestFiles.vocabulary(SharedFiles.require("tokenizer/real-moe/ggml-vocab-qwen2.gguf"));
        Tokenizer t = Tokenizer.of(withPre(v, pre));
        assertEquals(cleans ? cleaned : text, t.decode(t.encode(text, false, false)));
    }

    static Stream<String> newTypes() {
        return NEW_TYPES.stream();
    }

    /**
     * llama.cpp loads a kimi-k2 vocabulary without tokenizer.ggml.merges (no merge ever applies, every byte-level
     * character is looked up alone). Expected ids: generate.sh's tok program on a copy of the gpt-4o vocabulary
     * with the merges key removed and tokenizer.ggml.pre set to kimi-k2 (gguf_remove_key, gguf_write_to_file).
     */
    @Test
    void kimiK2NeedsNoMerges() {
        Vocabulary gpt4o = TokenizerTestFiles.vocabulary(SharedFiles.require("tokenizer/real-moe/ggml-vocab-gpt-4o.gguf"));
        Vocabulary noMerges = new Vocabulary(gpt4o.model(), "kimi-k2", gpt4o.tokens(), gpt4o.scores(), gpt4o.tokenTypes(),
                null, gpt4o.bos(), gpt4o.eos(), gpt4o.unk(), gpt4o.pad(), gpt4o.eogIds(), gpt4o.addBos(), gpt4o.addEos(),
                gpt4o.addSpacePrefix(), gpt4o.chatTemplate());
        assertArrayEquals(new int[] {39, 72, 220, 83, 71, 68, 81, 68, 220, 160, 116, 255, 162, 244, 229, 0},
                Tokenizer.of(noMerges).encode("Hi there 中文!", false, false));
        Vocabulary gpt4oNoMerges = withPre(noMerges, "gpt-4o");
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> Tokenizer.of(gpt4oNoMerges));
        assertTrue(e.getMessage().contains("merges"), e.getMessage());
    }

    /**
     * llama_vocab::impl::load: a BPE vocabulary's bos defaults to id 11 when tokenizer.ggml.bos_token_id is
     * absent, except for glm4 / chatglm-bpe, where it is cleared (special_bos_id = LLAMA_TOKEN_NULL); add_bos
     * defaults to true for the Llama 3 family (lfm2 among them) and tekken. Derived by reading that code.
     */
    @Test
    void bpeDefaultsFollowThePreTokenizer() {
        assertEquals(11, bpeVocabulary("gpt-2").bos());
        assertEquals(-1, bpeVocabulary("glm4").bos());
        assertFalse(bpeVocabulary("glm4").addBos());
        assertTrue(bpeVocabulary("lfm2").addBos());
        assertTrue(bpeVocabulary("tekken").addBos());
        assertFalse(bpeVocabulary("kimi-k2").addBos());
    }

    /** A 16-token byte-level BPE vocabulary with no special-token keys. */
    private static Vocabulary bpeVocabulary(String pre) {
        String[] tokens = new String[16];
        for (int i = 0; i < tokens.length; i++) {
            tokens[i] = String.valueOf((char) ('a' + i));
        }
        Map<String, Object> kv = Map.of(Vocabulary.KEY_MODEL, "gpt2", Vocabulary.KEY_PRE, pre, Vocabulary.KEY_TOKENS, tokens,
                Vocabulary.KEY_MERGES, new String[] {"a b"});
        return Vocabulary.fromMetadata(new Vocabulary.Metadata() {
            @Override
            public String string(String key) {
                return (String) kv.get(key);
            }

            @Override
            public Long integer(String key) {
                return null;
            }

            @Override
            public Boolean bool(String key) {
                return null;
            }

            @Override
            public String[] stringArray(String key) {
                return (String[]) kv.get(key);
            }

            @Override
            public float[] floatArray(String key) {
                return null;
            }

            @Override
            public int[] intArray(String key) {
                return null;
            }
        });
    }

    /** The vocabulary with another tokenizer.ggml.pre, as llama.cpp's kv override gives it. */
    static Vocabulary withPre(Vocabulary v, String pre) {
        return new Vocabulary(v.model(), pre, v.tokens(), v.scores(), v.tokenTypes(), v.merges(), v.bos(), v.eos(),
                v.unk(), v.pad(), v.eogIds(), v.addBos(), v.addEos(), v.addSpacePrefix(), v.chatTemplate());
    }

    static List<String> inputs(String set) throws IOException {
        String text = switch (set) {
            case "chosen" -> new String(resource("chosen.inp"), StandardCharsets.UTF_8);
            case "std" -> Files.readString(SharedFiles.require("tokenizer/ggml-vocab-gpt-2.gguf.inp"), StandardCharsets.UTF_8);
            case "corpus" -> Files.readString(SharedFiles.require("tokenizer/real-moe/extra-corpus/corpus.inp"),
                    StandardCharsets.UTF_8);
            default -> throw new IllegalArgumentException(set);
        };
        return LlamaCppVocabVectorsTest.splitInputs(text);
    }

    private static byte[] resource(String name) throws IOException {
        try (InputStream in = LlamaCppPreTokenizerVectorsTest.class.getResourceAsStream(RESOURCES + name)) {
            assertNotNull(in, "missing test resource " + name);
            return (name.endsWith(".gz") ? new GZIPInputStream(in) : in).readAllBytes();
        }
    }

    private static List<String> resourceLines(String name) throws IOException {
        String text = new String(resource(name), StandardCharsets.UTF_8);
        List<String> lines = new ArrayList<>(Arrays.asList(text.split("\n", -1)));
        lines.removeLast(); // the text ends with a newline
        return lines;
    }

    static int[] numbers(String line) {
        String s = line.strip();
        return s.isEmpty() ? new int[0] : Arrays.stream(s.split(" ")).mapToInt(Integer::parseInt).toArray();
    }

    private static List<String> pieces(int[] cps, int[] lengths) {
        List<String> out = new ArrayList<>();
        int pos = 0;
        for (int len : lengths) {
            out.add(LlamaCppVocabVectorsTest.escape(new String(cps, pos, Math.min(len, cps.length - pos))));
            pos += len;
        }
        return out;
    }
}
