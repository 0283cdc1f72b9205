package io.moeflow.tokenizer;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.moeflow.testing.SharedFiles;
import java.nio.charset.StandardCharsets;
import java.util.stream.IntStream;
import org.junit.jupiter.api.Test;

/** Special-token handling, detokenization and errors, on llama.cpp's vocab-only test files. */
class TokenizerBehaviourTest {

    private static Tokenizer load(String vocab) {
        return TokenizerTestFiles.vocabTokenizer(vocab);
    }

    private static Vocabulary vocabulary(String vocab) {
        return TokenizerTestFiles.vocabulary(SharedFiles.require("tokenizer/ggml-vocab-" + vocab + ".gguf"));
    }

    private static int[] concat(int[]... parts) {
        return java.util.Arrays.stream(parts).flatMapToInt(IntStream::of).toArray();
    }

    @Test
    void spmParsesControlTokensOnlyWhenAsked() {
        Tokenizer t = load("llama-spm");
        // llama.cpp: the special token is cut out, and the text after it gets the space prefix again
        int[] expected = concat(t.encode("Hello", false, false), new int[] {2}, t.encode("world", false, false));
        assertArrayEquals(expected, t.encode("Hello</s>world", false, true));
        int[] literal = t.encode("Hello</s>world", false, false);
        assertFalse(IntStream.of(literal).anyMatch(id -> id == 2), "</s> is plain text when parseSpecial is false");
        assertArrayEquals(concat(new int[] {1}, t.encode("Hello", false, false)), t.encode("Hello", true, false));
    }

    @Test
    void userDefinedTokensSplitTheTextEvenWithoutParseSpecial() {
        Tokenizer t = load("mpt");
        // MPT has user-defined tokens for runs of 2..24 spaces; llama.cpp (like Hugging Face) matches them first
        int[] ids = t.encode("a" + " ".repeat(24) + "b", false, false);
        assertEquals(3, ids.length);
        assertEquals(" ".repeat(24), new String(t.pieceBytes(ids[1]), StandardCharsets.UTF_8));
    }

    @Test
    void bpeParsesControlTokensOnlyWhenAsked() {
        Tokenizer t = load("gpt-2");
        int eot = 50256;
        int[] expected = concat(t.encode("Hi", false, false), new int[] {eot}, t.encode(" there", false, false));
        assertArrayEquals(expected, t.encode("Hi<|endoftext|> there", false, true));
        assertFalse(IntStream.of(t.encode("Hi<|endoftext|> there", false, false)).anyMatch(id -> id == eot));
        assertTrue(t.isEog(eot));
        assertTrue(t.isControl(eot));
        assertFalse(t.vocabulary().addBos(), "gpt2 models add no bos by default");
        assertArrayEquals(t.encode("Hi", false, false), t.encode("Hi", true, false));
    }

    @Test
    void bpePiecesMapCharactersBackToBytes() {
        Tokenizer t = load("gpt-2");
        int[] ids = t.encode(" world", false, false);
        assertEquals(1, ids.length);
        assertEquals("Ġworld", t.vocabulary().tokens()[ids[0]]);
        assertArrayEquals(" world".getBytes(StandardCharsets.UTF_8), t.pieceBytes(ids[0]));
        assertArrayEquals("<|endoftext|>".getBytes(StandardCharsets.UTF_8), t.pieceBytes(50256));
        assertEquals("", t.decode(new int[] {50256}), "control tokens are not rendered by decode");
    }

    @Test
    void bpeDecodeCleansSpacesLikeLlamaCpp() {
        Tokenizer t = load("gpt-2");
        String text = "Hello , world ! It 's here . Is n't it ?";
        // clean_up_tokenization_spaces: " ," " !" " ." " ?" and " 's" lose their space, " n't" keeps it
        assertEquals("Hello, world! It's here. Is n't it?", t.decode(t.encode(text, false, false)));
        Tokenizer qwenLike = load("deepseek-llm"); // clean_spaces is off for deepseek-llm
        assertEquals("Hello , world", qwenLike.decode(qwenLike.encode("Hello , world", false, false)));
    }

    @Test
    void decodeRoundTripsTheVectorInputs() {
        for (String vocab : new String[] {"llama-spm", "deepseek-coder", "deepseek-llm", "starcoder"}) {
            Tokenizer t = load(vocab);
            for (String text : new String[] {"Hello world", " this is 🦙.cpp", "нещо на Български", "3333333",
                    "Cửa Việt", "    Hello\n    Hello"}) {
                // SentencePiece: decode drops exactly the space that encode prefixed
                assertEquals(text, t.decode(t.encode(text, false, false)), vocab + ": " + text);
            }
        }
    }

    @Test
    void eogTokensFollowLlamaCppRules() {
        Tokenizer phi3 = load("phi-3");
        assertEquals(32000, phi3.eos());
        assertTrue(phi3.isEog(32000), "<|endoftext|>");
        assertTrue(phi3.isEog(32007), "<|end|> ends a turn");
        assertTrue(phi3.isEog(2), "</s>");
        assertTrue(phi3.isControl(2), "</s> is user-defined in the file but control in llama.cpp");
        assertFalse(phi3.isEog(32010), "<|user|>");
        Tokenizer starcoder = load("starcoder");
        assertTrue(starcoder.isEog(0), "<|endoftext|>");
        assertTrue(starcoder.isEog(4), "<fim_pad> ends generation in llama.cpp");
    }

    @Test
    void rejectsUnsupportedModelsAndPreTokenizers() {
        Vocabulary bert = vocabulary("bert-bge");
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> Tokenizer.of(bert));
        assertTrue(e.getMessage().contains("'bert'") && e.getMessage().contains("llama") && e.getMessage().contains("gpt2"),
                e.getMessage());
        Vocabulary gpt2 = vocabulary("gpt-2");
        Vocabulary unknownPre = new Vocabulary(gpt2.model(), "no-such-pre", gpt2.tokens(), gpt2.scores(),
                gpt2.tokenTypes(), gpt2.merges(), gpt2.bos(), gpt2.eos(), gpt2.unk(), gpt2.pad(), gpt2.eogIds(),
                gpt2.addBos(), gpt2.addEos(), gpt2.addSpacePrefix(), gpt2.chatTemplate());
        e = assertThrows(IllegalArgumentException.class, () -> Tokenizer.of(unknownPre));
        assertTrue(e.getMessage().contains("no-such-pre") && e.getMessage().contains("tokenizer.ggml.pre"), e.getMessage());
    }

    @Test
    void rejectsIdsOutsideTheVocabulary() {
        Tokenizer t = load("gpt-2");
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> t.decode(new int[] {50257}));
        assertTrue(e.getMessage().contains("50257"), e.getMessage());
        assertThrows(IllegalArgumentException.class, () -> t.pieceBytes(-1));
        assertThrows(IllegalArgumentException.class, () -> t.newStream().push(99999));
    }

    @Test
    void encodesALongPrompt() {
        Tokenizer t = load("deepseek-llm");
        String text = "The quick brown fox, jumping over 12345 lazy dogs: naïve café! ".repeat(200);
        int[] ids = t.encode(text, true, false);
        assertTrue(ids.length > 2000, "a prompt of more than 2k tokens: " + ids.length);
        assertEquals(t.bos(), ids[0]);
        assertEquals(text, t.decode(IntStream.of(ids).skip(1).toArray()));
    }
}
