package io.moeflow.engine.grammar;

import static io.moeflow.engine.grammar.Grammar.alt;
import static io.moeflow.engine.grammar.Grammar.literal;
import static io.moeflow.engine.grammar.Grammar.range;
import static io.moeflow.engine.grammar.Grammar.repeat;
import static io.moeflow.engine.grammar.Grammar.seq;
import static io.moeflow.engine.grammar.Grammar.star;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.moeflow.engine.TokenConstraint;
import java.nio.ByteBuffer;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.BitSet;
import java.util.List;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

/** The byte grammar, its matcher and the token masks over a vocabulary trie. */
class GrammarConstraintTest {

    private static byte[] utf8(String s) {
        return s.getBytes(StandardCharsets.UTF_8);
    }

    private static boolean validUtf8(byte[] b) {
        try {
            StandardCharsets.UTF_8.newDecoder().onMalformedInput(CodingErrorAction.REPORT)
                    .onUnmappableCharacter(CodingErrorAction.REPORT).decode(ByteBuffer.wrap(b));
            return true;
        } catch (CharacterCodingException e) {
            return false;
        }
    }

    @Test
    void literalsAlternativesAndBoundedRepetition() {
        CompiledGrammar g = Grammar.compile(seq(literal("x"), repeat(alt(literal("ab"), literal("c")), 2, 4), literal("!")));
        assertTrue(g.matches(utf8("xabc!")));
        assertTrue(g.matches(utf8("xcccc!")));
        assertTrue(g.matches(utf8("xababab!")));
        assertFalse(g.matches(utf8("xc!")), "below the minimum");
        assertFalse(g.matches(utf8("xccccc!")), "above the maximum");
        assertFalse(g.matches(utf8("xabc")), "incomplete");
        assertFalse(g.matches(utf8("xa!")), "a byte no rule allows");
        assertTrue(g.walk(g.start(), utf8("xab")) != null, "a prefix is alive");
        assertFalse(g.walk(g.start(), utf8("xab")).complete());
    }

    @Test
    void unboundedRepetitionIsRightRecursiveAndTheStackStaysFlat() {
        CompiledGrammar g = Grammar.compile(seq(literal("["), star(literal("a")), literal("]")));
        byte[] many = new byte[100_002];
        java.util.Arrays.fill(many, (byte) 'a');
        many[0] = '[';
        many[many.length - 1] = ']';
        assertTrue(g.matches(many));
        assertTrue(g.stateCount() < 10, "the same states repeat: " + g.stateCount());
    }

    @Test
    void utf8CharMatchesExactlyTheValidSequencesJavaDecodes() {
        CompiledGrammar g = Grammar.compile(Grammar.utf8Char());
        for (int a = 0; a < 256; a++) {
            assertEquals(validUtf8(new byte[] {(byte) a}), g.matches(new byte[] {(byte) a}), "byte " + a);
            for (int b = 0; b < 256; b++) {
                byte[] two = {(byte) a, (byte) b};
                assertEquals(validUtf8(two) && new String(two, StandardCharsets.UTF_8).codePointCount(0, 1) == 1
                        && new String(two, StandardCharsets.UTF_8).length() == 1, g.matches(two), "bytes " + a + " " + b);
            }
        }
        SplittableRandom r = new SplittableRandom(3);
        for (int i = 0; i < 200_000; i++) {
            int n = 3 + r.nextInt(2);
            byte[] b = new byte[n];
            b[0] = (byte) (0xE0 + r.nextInt(0x20));
            for (int k = 1; k < n; k++) b[k] = (byte) (r.nextInt(4) == 0 ? r.nextInt(256) : 0x80 + r.nextInt(0x40));
            boolean oneChar = validUtf8(b) && new String(b, StandardCharsets.UTF_8).codePointCount(0,
                    new String(b, StandardCharsets.UTF_8).length()) == 1;
            assertEquals(oneChar, g.matches(b), () -> "bytes " + java.util.HexFormat.of().formatHex(b));
        }
    }

    @Test
    void leftRecursionIsRefusedInsteadOfLooping() {
        Grammar.Rule r = Grammar.rule("r");
        r.define(alt(seq(r, literal("a")), literal("b")));
        assertThrows(IllegalStateException.class, () -> Grammar.compile(r));
        Grammar.Rule undefined = Grammar.rule("u");
        assertThrows(IllegalStateException.class, () -> Grammar.compile(seq(literal("x"), undefined)));
    }

    /**
     * A vocabulary with merged and split tokens: "é" whole (C3 A9) and as two byte tokens, tokens that span the end
     * of a string ("a\""), one that spans a whole object, an end-of-generation token and a control token (no bytes).
     */
    private static final String[] PIECES = {"{", "}", "{\"", "\"}", "\"", "a", "ab", "\u00e9", null, null, "a\"", "{\"a\"}",
            "b\"}", "\"\"", " ", "", "x"};
    private static final int EOG = 15, CONTROL = 16, BYTE_C3 = 8, BYTE_A9 = 9;

    private static TokenTrie smallTrie() {
        byte[][] bytes = new byte[PIECES.length + 1][];
        for (int i = 0; i < PIECES.length; i++) bytes[i] = PIECES[i] == null ? null : utf8(PIECES[i]);
        bytes[BYTE_C3] = new byte[] {(byte) 0xC3};
        bytes[BYTE_A9] = new byte[] {(byte) 0xA9};
        bytes[EOG] = new byte[0];
        bytes[CONTROL] = new byte[0];
        bytes[PIECES.length] = utf8("zz");
        BitSet eog = new BitSet();
        eog.set(EOG);
        return new TokenTrie(bytes, eog);
    }

    /** {"<letters a, b, é>"} */
    private static Grammar.Expr objectOfOneString() {
        return seq(literal("{\""), star(alt(literal("a"), literal("b"), literal("\u00e9"))), literal("\"}"));
    }

    private static List<Integer> allowed(TokenConstraint.Cursor c, int vocab) {
        float[] logits = new float[vocab];
        int n = c.mask(logits, 0, vocab);
        List<Integer> ids = new ArrayList<>();
        for (int i = 0; i < vocab; i++) if (logits[i] != Float.NEGATIVE_INFINITY) ids.add(i);
        assertEquals(ids.size(), n, "the count mask() returns");
        return ids;
    }

    @Test
    void masksFollowTheBytesOfMergedAndSplitTokens() {
        TokenTrie trie = smallTrie();
        GrammarConstraint constraint = GrammarConstraint.of(objectOfOneString(), trie);
        int vocab = trie.vocabSize() + 3; // the model's rows may be wider than the tokenizer: those ids never pass
        TokenConstraint.Cursor c = constraint.start();
        assertEquals(List.of(0, 2, 11), allowed(c, vocab), "{ alone, {\" merged, or the whole {\"a\"}");
        c.accept(0);
        assertEquals(List.of(4, 13), allowed(c, vocab), "after {: a quote, or the empty string's two quotes");
        c.accept(4);
        // inside the string: letters, é whole or its first byte, a closing quote with or without the brace
        assertEquals(List.of(3, 4, 5, 6, 7, BYTE_C3, 10, 12), allowed(c, vocab));
        c.accept(BYTE_C3);
        assertEquals(List.of(BYTE_A9), allowed(c, vocab), "only the second byte of é can follow its first");
        c.accept(BYTE_A9);
        assertFalse(c.complete());
        c.accept(12); // b"}
        assertTrue(c.complete());
        assertTrue(c.finished(), "nothing can follow the closing brace");
        assertEquals(List.of(EOG), allowed(c, vocab), "complete: only the end-of-generation token");
        assertFalse(c.allows(CONTROL));
        assertThrows(IllegalArgumentException.class, () -> c.accept(5));
        c.accept(EOG);
        assertEquals(List.of(), allowed(c, vocab), "after the end nothing");
    }

    @Test
    void aNonFinishedCompleteStateAllowsEndAndMore() {
        TokenTrie trie = smallTrie();
        GrammarConstraint constraint = GrammarConstraint.of(repeat(literal("a"), 1, Grammar.UNBOUNDED), trie);
        TokenConstraint.Cursor c = constraint.start();
        assertEquals(List.of(5), allowed(c, trie.vocabSize()));
        c.accept(5);
        assertTrue(c.complete());
        assertFalse(c.finished());
        assertEquals(List.of(5, EOG), allowed(c, trie.vocabSize()));
    }

    @Test
    void aDeadEndAllowsNothing() {
        TokenTrie trie = smallTrie();
        // the vocabulary has no token starting with "q"
        TokenConstraint.Cursor c = GrammarConstraint.of(literal("q"), trie).start();
        assertEquals(List.of(), allowed(c, trie.vocabSize()));
    }

    /** The trie walk gives the same mask as walking every token's bytes on its own, on a real 50k BPE vocabulary. */
    @Test
    void trieMaskEqualsTokenByTokenWalkOnGpt2Vocabulary() {
        io.moeflow.tokenizer.Tokenizer tok = io.moeflow.tokenizer.Tokenizer.of(vocabulary("ggml-vocab-gpt-2.gguf"));
        TokenTrie trie = TokenTrie.of(tok);
        Grammar.Rule value = Grammar.rule("value");
        Grammar.Expr ws = repeat(Grammar.anyOf(" \n"), 0, 3);
        Grammar.Expr string = seq(literal("\""), star(alt(Grammar.not(Grammar.anyOf("\"\\")), literal("\\n"))), literal("\""));
        value.define(alt(string, seq(literal("["), ws, Grammar.opt(seq(value, star(seq(literal(","), ws, value)))), literal("]")),
                repeat(range('0', '9'), 1, 5)));
        GrammarConstraint constraint = GrammarConstraint.of(value, trie);
        CompiledGrammar g = constraint.grammar();
        SplittableRandom r = new SplittableRandom(11);
        TokenConstraint.Cursor c = constraint.start();
        CompiledGrammar.State state = g.start();
        int vocab = trie.vocabSize();
        for (int step = 0; step < 40 && !c.finished(); step++) {
            float[] logits = new float[vocab];
            c.mask(logits, 0, vocab);
            List<Integer> allowed = new ArrayList<>();
            for (int t = 0; t < vocab; t++) {
                boolean byWalk = tok.textBytes(t).length > 0 ? g.walk(state, tok.textBytes(t)) != null
                        : tok.isEog(t) && state.complete();
                assertEquals(byWalk, logits[t] != Float.NEGATIVE_INFINITY, "token " + t + " at step " + step);
                if (byWalk && !tok.isEog(t)) allowed.add(t);
            }
            if (allowed.isEmpty()) break;
            int pick = allowed.get(r.nextInt(allowed.size()));
            c.accept(pick);
            state = g.walk(state, tok.textBytes(pick));
        }
    }

    static io.moeflow.tokenizer.Vocabulary vocabulary(String file) {
        java.nio.file.Path p = io.moeflow.testing.SharedFiles.require("tokenizer/" + file);
        try (io.moeflow.gguf.GgufFile f = io.moeflow.gguf.GgufFile.open(p)) {
            return io.moeflow.tokenizer.Vocabulary.fromGguf(f);
        }
    }

    @Test
    void trieKeepsEveryTokenWithBytesOnce() {
        TokenTrie trie = smallTrie();
        int[] sorted = trie.tokens.clone();
        java.util.Arrays.sort(sorted);
        int[] expected = java.util.stream.IntStream.range(0, trie.vocabSize()).filter(i -> i != EOG && i != CONTROL).toArray();
        assertArrayEquals(expected, sorted);
    }

    /** Past MAX_STATES the memo is dropped: states held by cursors go on and every answer stays the same. */
    @Test
    void forgettingTheMemoChangesNoAnswer() {
        CompiledGrammar g = Grammar.compile(seq(repeat(literal("a"), 0, 6000), literal("}")));
        byte[] as = new byte[6001];
        java.util.Arrays.fill(as, (byte) 'a');
        as[6000] = '}';
        assertTrue(g.matches(as));
        assertFalse(g.matches(java.util.Arrays.copyOf(as, 6000)), "without the brace");
        byte[] tooMany = new byte[6002];
        java.util.Arrays.fill(tooMany, (byte) 'a');
        tooMany[6001] = '}';
        assertFalse(g.matches(tooMany));
        assertTrue(g.stateCount() <= CompiledGrammar.MAX_STATES + 1, "the memo was bounded: " + g.stateCount());

        TokenTrie trie = smallTrie();
        TokenConstraint.Cursor c = GrammarConstraint.of(seq(repeat(literal("a"), 0, 6000), literal("}")), trie).start();
        for (int i = 0; i < 5999; i++) c.accept(5);
        assertEquals(List.of(1, 5), allowed(c, trie.vocabSize()), "after 5999 a: another a or the brace");
        c.accept(5);
        assertEquals(List.of(1), allowed(c, trie.vocabSize()), "after 6000 a: the brace only");
        c.accept(1);
        assertTrue(c.finished());
    }
}
