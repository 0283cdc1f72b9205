package io.moeflow.tokenizer;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.moeflow.engine.Detokenizer;
import io.moeflow.engine.Sequence;
import io.moeflow.scheduler.FinishReason;
import io.moeflow.scheduler.GenerationRequest;
import io.moeflow.testing.SharedFiles;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.TreeSet;
import org.junit.jupiter.api.Test;

/**
 * The end-of-generation set of real MoE vocabularies (../shared/tokenizer/real-moe: Qwen3, DeepSeek-V3, gpt-oss)
 * is the one llama.cpp's llama_vocab::impl::load builds (src/llama-vocab.cpp at 34af94cd9ab2): eos, eot, eom, the
 * FIM pad/repo/file-separator tokens, every token whose text is in its EOG list, minus <|end|> for harmony
 * vocabularies (<|return|> and <|call|> present) and </s> next to <|tool_response>; and each of them ends a
 * generation in the engine, without text, while a token that is not EOG is generated through.
 */
class EndOfGenerationTest {
    /** llama.cpp's text list (the special_eog_ids loop). */
    static final Set<String> LLAMA_CPP_EOG_TEXTS = Set.of("<|eot_id|>", "<|im_end|>", "<|end|>", "<|return|>", "<|call|>",
            "<|flush|>", "<|calls|>", "<end_of_turn>", "<|endoftext|>", "</s>", "<|eom_id|>", "<EOT>", "_<EOT>", "[EOT]", "[EOS]",
            "<|end_of_text|>", "<end_of_utterance>", "<eos>", "<turn|>", "<|tool_response>", "<｜end▁of▁sentence｜>", "[e~[");

    private static Tokenizer real(String name) {
        return Tokenizer.of(TokenizerTestFiles.vocabulary(SharedFiles.require("tokenizer/real-moe/ggml-vocab-" + name + ".gguf")));
    }

    private static int id(Tokenizer t, String text) {
        String[] tokens = t.vocabulary().tokens();
        for (int i = 0; i < tokens.length; i++) {
            if (tokens[i].equals(text)) return i;
        }
        throw new AssertionError(text + " is not in the vocabulary");
    }

    private static Set<Integer> eogSet(Tokenizer t) {
        Set<Integer> s = new TreeSet<>();
        for (int i = 0; i < t.vocabSize(); i++) {
            if (t.isEog(i)) s.add(i);
        }
        return s;
    }

    private static Set<Integer> ids(Tokenizer t, String... texts) {
        Set<Integer> s = new TreeSet<>();
        for (String text : texts) s.add(id(t, text));
        return s;
    }

    private static List<String> textsFromTheList(Tokenizer t) {
        List<String> found = new ArrayList<>();
        for (String text : t.vocabulary().tokens()) {
            if (LLAMA_CPP_EOG_TEXTS.contains(text)) found.add(text);
        }
        return found;
    }

    @Test
    void qwen3EndsAtImEndEndoftextAndTheFimSeparators() {
        Tokenizer qwen = real("qwen2");
        // "</s>" is an ordinary BPE token of Qwen's vocabulary, but llama.cpp goes by text: it ends generation too
        assertEquals(List.of("</s>", "<|endoftext|>", "<|im_end|>"), textsFromTheList(qwen));
        // FIM pad, repo name and file separator are looked up by text and are EOG in llama.cpp
        assertEquals(ids(qwen, "</s>", "<|endoftext|>", "<|im_end|>", "<|fim_pad|>", "<|repo_name|>", "<|file_sep|>"), eogSet(qwen));
        assertFalse(qwen.isEog(id(qwen, "<|im_start|>")));
        assertFalse(qwen.isEog(id(qwen, "</think>")));
        assertFalse(qwen.isEog(id(qwen, "</tool_call>")));
    }

    @Test
    void deepseekV3EndsAtEndOfSentence() {
        Tokenizer ds = real("deepseek-v3");
        assertTrue(ds.isEog(id(ds, "<｜end▁of▁sentence｜>")));
        Set<Integer> expected = ids(ds, textsFromTheList(ds).toArray(String[]::new));
        expected.add(ds.eos());
        assertEquals(expected, eogSet(ds));
        assertFalse(ds.isEog(id(ds, "<｜begin▁of▁sentence｜>")));
    }

    @Test
    void gptOssEndsAtReturnAndCallButGeneratesThroughEnd() {
        Tokenizer oss = real("gpt-4o");
        assertTrue(textsFromTheList(oss).containsAll(List.of("<|endoftext|>", "<|return|>", "<|call|>", "<|end|>")));
        Set<Integer> expected = ids(oss, "<|endoftext|>", "<|return|>", "<|call|>");
        expected.add(oss.eos());
        assertEquals(expected, eogSet(oss), "harmony: <|end|> is not EOG when <|return|> and <|call|> exist");
        assertFalse(oss.isControl(id(oss, "<|end|>")), "<|end|> becomes user-defined, so it is rendered");
    }

    /** The engine's decision: Sequence asks the tokenizer's Detokenizer, as GgufModelRuntime wires it. */
    @Test
    void everyEndOfGenerationTokenEndsAGenerationWithoutText() {
        for (String name : List.of("qwen2", "deepseek-v3", "gpt-4o")) {
            Tokenizer t = real(name);
            int[] hello = t.encode("Hello", false, false);
            for (int eog : eogSet(t)) {
                Sequence s = new Sequence(new GenerationRequest("r", hello, null, 10, List.of(), null, false), Detokenizer.of(t), 1000);
                s.advance(s.pending());
                s.accept(hello[0]);
                assertNull(s.finish());
                String before = s.delta();
                s.advance(s.pending());
                s.accept(eog);
                assertEquals(FinishReason.STOP, s.finish(), name + ": token " + eog + " " + t.vocabulary().tokens()[eog]);
                assertEquals("", s.delta(), name + ": an end-of-generation token adds no text");
                assertFalse(before.isEmpty());
            }
        }
        Tokenizer oss = real("gpt-4o");
        Sequence s = new Sequence(new GenerationRequest("r", new int[] {0}, null, 10, List.of(), null, false), Detokenizer.of(oss), 1000);
        s.advance(s.pending());
        s.accept(id(oss, "<|end|>"));
        assertNull(s.finish(), "gpt-oss generates through <|end|> (the end of a channel message)");
        assertEquals("<|end|>", s.delta());
    }
}
