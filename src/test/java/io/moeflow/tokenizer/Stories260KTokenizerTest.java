package io.moeflow.tokenizer;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.moeflow.testing.SharedFiles;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.util.stream.IntStream;
import java.util.stream.StreamSupport;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/** The stories260K model's SentencePiece vocabulary against llama.cpp's ids and text for it. */
class Stories260KTokenizerTest {
    /** The text whose llama.cpp tokenization is the golden token sequence (models/stories260K/README.md). */
    private static final String GOLDEN_TEXT =
            "Once upon a time, there was a little girl named Lily. She loved to play outside in the park.";

    private static Tokenizer tokenizer;
    private static JsonNode golden;

    @BeforeAll
    static void load() throws IOException {
        tokenizer = Tokenizer.of(TokenizerTestFiles.vocabulary(SharedFiles.require("models/stories260K/stories260K.gguf")));
        golden = new ObjectMapper().readTree(SharedFiles.require("models/stories260K/stories260K.json").toFile());
    }

    private static int[] ids(JsonNode array) {
        return StreamSupport.stream(array.spliterator(), false).mapToInt(JsonNode::asInt).toArray();
    }

    @Test
    void defaultsFromMetadata() {
        Vocabulary v = tokenizer.vocabulary();
        assertEquals(512, tokenizer.vocabSize());
        assertEquals(1, tokenizer.bos());
        assertEquals(2, tokenizer.eos());
        assertTrue(v.addBos(), "SentencePiece adds bos by default");
        assertFalse(v.addEos());
        assertTrue(v.addSpacePrefix(), "SentencePiece prefixes a space by default");
        assertEquals(-1, v.pad(), "padding id 0xFFFFFFFF is out of range and ignored");
        assertTrue(tokenizer.isEog(2));
        assertFalse(tokenizer.isEog(1));
        assertTrue(tokenizer.isControl(1));
    }

    @Test
    void encodesTheGoldenSequence() {
        assertArrayEquals(ids(golden.get("token_ids")), tokenizer.encode(GOLDEN_TEXT, true, false));
    }

    @Test
    void encodesTheGreedyPrompt() {
        JsonNode g = golden.get("greedy_generation");
        assertArrayEquals(ids(g.get("prompt_ids")), tokenizer.encode(g.get("prompt").asText(), true, false));
    }

    @Test
    void decodesTheGreedyGeneration() {
        JsonNode g = golden.get("greedy_generation");
        int[] all = IntStream.concat(IntStream.of(ids(g.get("prompt_ids"))), IntStream.of(ids(g.get("generated_ids"))))
                .toArray();
        assertEquals(g.get("full_text").asText(), tokenizer.decode(all));
        assertEquals(g.get("generated_text").asText(), tokenizer.decode(ids(g.get("generated_ids"))));
    }

    @Test
    void streamsTheGreedyGeneration() {
        JsonNode g = golden.get("greedy_generation");
        TextStream stream = tokenizer.newStream();
        StringBuilder text = new StringBuilder();
        for (int id : ids(g.get("generated_ids"))) {
            text.append(stream.push(id));
        }
        text.append(stream.flush());
        assertEquals(g.get("generated_text").asText(), text.toString());
    }

    @Test
    void streamEmitsAByteFallbackCharacterOnceComplete() {
        // U+1F999 is not among the 512 pieces: it is encoded as four byte tokens after the prefixed space
        String llama = "\uD83E\uDD99";
        byte[] utf8 = llama.getBytes(StandardCharsets.UTF_8);
        int[] ids = tokenizer.encode(llama, false, false);
        assertEquals(1 + utf8.length, ids.length);
        TextStream stream = tokenizer.newStream();
        assertEquals(" ", stream.push(ids[0]), "the prefixed space");
        for (int i = 0; i < utf8.length; i++) {
            assertArrayEquals(new byte[] {utf8[i]}, tokenizer.pieceBytes(ids[1 + i]), "byte token " + i);
            String out = stream.push(ids[1 + i]);
            assertEquals(i < utf8.length - 1 ? "" : llama, out, "after byte " + i);
        }
        assertEquals("", stream.flush());
        assertEquals(llama, tokenizer.decode(ids), "decode drops the prefixed space");
    }

    @Test
    void flushRendersAnIncompleteCharacterAsReplacement() {
        int[] ids = tokenizer.encode("\uD83E\uDD99", false, false);
        TextStream stream = tokenizer.newStream();
        assertEquals(" ", stream.push(ids[0]));
        assertEquals("", stream.push(ids[1]));
        assertEquals("\uFFFD", stream.flush());
    }

    @Test
    void newlineIsTheByteToken13() {
        assertArrayEquals(new byte[] {'\n'}, tokenizer.pieceBytes(13));
    }
}
