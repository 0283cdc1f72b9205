package io.moeflow.engine.grammar;

import io.moeflow.engine.TokenConstraint;
import io.moeflow.tokenizer.Tokenizer;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.BitSet;
import java.util.List;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;

/**
 * Not a test: the per-step cost of constrained sampling behind docs/BENCHMARKS.md, run only with
 * {@code -Dmoeflow.grammar.measure=true}. The vocabulary is GPT-2's and DeepSeek-LLM's byte-level BPE tokens
 * together (152,657 ids, Qwen3's size), the grammar the JSON schema of {@code StructuredOutputTest} or any JSON
 * object. Each generation takes a random allowed token per step; the mask of a state is timed the first time
 * (the trie walk) and when it comes back (cached: one pass over the logits), both in the same generations.
 */
class GrammarMaskMeasurement {
    @Test
    void measure() throws Exception {
        Assumptions.assumeTrue(Boolean.getBoolean("moeflow.grammar.measure"), "set -Dmoeflow.grammar.measure=true to run");
        Tokenizer a = Tokenizer.of(GrammarConstraintTest.vocabulary("ggml-vocab-gpt-2.gguf"));
        Tokenizer b = Tokenizer.of(GrammarConstraintTest.vocabulary("ggml-vocab-deepseek-llm.gguf"));
        int n = a.vocabSize() + b.vocabSize();
        byte[][] bytes = new byte[n][];
        BitSet eog = new BitSet();
        for (int i = 0; i < a.vocabSize(); i++) {
            bytes[i] = a.textBytes(i);
            if (a.isEog(i)) eog.set(i);
        }
        for (int i = 0; i < b.vocabSize(); i++) {
            bytes[a.vocabSize() + i] = b.textBytes(i);
            if (b.isEog(i)) eog.set(a.vocabSize() + i);
        }
        long t0 = System.nanoTime();
        TokenTrie trie = new TokenTrie(bytes, eog);
        long trieNanos = System.nanoTime() - t0;
        System.out.printf("vocabulary %d tokens, trie of %d nodes built in %.0f ms%n", n, trie.nodes(), trieNanos / 1e6);
        com.fasterxml.jackson.databind.JsonNode schema = new com.fasterxml.jackson.databind.ObjectMapper()
                .readTree(io.moeflow.api.StructuredOutputTest.SCHEMA);
        measure("json_schema (StructuredOutputTest.SCHEMA)", io.moeflow.api.JsonSchemaGrammar.compile(schema, "schema"), trie, n);
        measure("json_object", io.moeflow.api.JsonSchemaGrammar.anyObject(), trie, n);
        // the dearest state: inside a free string almost every token is allowed, so the walk visits the whole trie
        Grammar.Expr anyObject = io.moeflow.api.JsonSchemaGrammar.anyObject();
        List<Long> walks = new ArrayList<>();
        float[] logits = new float[n];
        for (int i = 0; i < 7; i++) {
            GrammarConstraint fresh = GrammarConstraint.of(anyObject, trie);
            TokenConstraint.Cursor c = fresh.start();
            c.accept(tokenOf(trie, "{"));
            c.accept(tokenOf(trie, "\""));
            long t = System.nanoTime();
            int allowed = c.mask(logits, 0, n);
            walks.add(System.nanoTime() - t);
            if (i == 0) System.out.printf("inside a string: %d of %d tokens allowed%n", allowed, n);
        }
        System.out.printf("inside a string, first time (fresh grammar, warm JIT): median %.1f ms of %d%n", ms(walks, 50), walks.size());
    }

    private static int tokenOf(TokenTrie trie, String text) {
        byte[] b = text.getBytes(java.nio.charset.StandardCharsets.UTF_8);
        for (int t = 0; t < trie.vocabSize(); t++) if (Arrays.equals(trie.bytes(t), b)) return t;
        throw new IllegalArgumentException("no token " + text);
    }

    private static void measure(String name, Grammar.Expr grammar, TokenTrie trie, int vocab) {
        GrammarConstraint constraint = GrammarConstraint.of(grammar, trie);
        List<Long> cold = new ArrayList<>(), warm = new ArrayList<>(), accept = new ArrayList<>();
        float[] logits = new float[vocab];
        int steps = 0;
        for (int gen = 0; gen < 10; gen++) {
            SplittableRandom r = new SplittableRandom(gen);
            TokenConstraint.Cursor c = constraint.start();
            for (int step = 0; step < 300 && !c.finished(); step++) {
                Arrays.fill(logits, 0f);
                CompiledGrammar.State s = stateOf(c);
                boolean cached = s.tokenMask != null;
                long t = System.nanoTime();
                int allowed = c.mask(logits, 0, vocab);
                long dt = System.nanoTime() - t;
                (cached ? warm : cold).add(dt);
                if (allowed == 0) break;
                int pick;
                do pick = r.nextInt(vocab); while (logits[pick] == Float.NEGATIVE_INFINITY || (trie.isEndOfGeneration(pick) && r.nextInt(2) == 0));
                if (step > 150) { // steer towards the end: prefer tokens that close something
                    for (int k = 0; k < 2000; k++) {
                        int p = r.nextInt(vocab);
                        if (logits[p] != Float.NEGATIVE_INFINITY && (trie.isEndOfGeneration(p)
                                || new String(trie.bytes(p), java.nio.charset.StandardCharsets.UTF_8).matches("[\"}\\]]+"))) {
                            pick = p;
                            break;
                        }
                    }
                }
                t = System.nanoTime();
                c.accept(pick);
                accept.add(System.nanoTime() - t);
                steps++;
                if (trie.isEndOfGeneration(pick)) break;
            }
        }
        System.out.printf("%s: %d steps; mask first time in a state: n=%d median %.2f ms p90 %.2f ms max %.2f ms;"
                        + " cached: n=%d median %.3f ms p90 %.3f ms; accept median %.4f ms; states %d%n",
                name, steps, cold.size(), ms(cold, 50), ms(cold, 90), ms(cold, 100), warm.size(), ms(warm, 50), ms(warm, 90),
                ms(accept, 50), constraint.grammar().stateCount());
    }

    /** The cursor's state (measurement only: reads the private field). */
    private static CompiledGrammar.State stateOf(TokenConstraint.Cursor c) throws RuntimeException {
        try {
            var f = c.getClass().getDeclaredField("state");
            f.setAccessible(true);
            return (CompiledGrammar.State) f.get(c);
        } catch (ReflectiveOperationException e) {
            throw new IllegalStateException(e);
        }
    }

    private static double ms(List<Long> nanos, int percentile) {
        if (nanos.isEmpty()) return Double.NaN;
        long[] s = nanos.stream().mapToLong(Long::longValue).sorted().toArray();
        int i = Math.min(s.length - 1, (int) Math.ceil(percentile / 100.0 * s.length) - 1);
        return s[Math.max(0, i)] / 1e6;
    }
}
