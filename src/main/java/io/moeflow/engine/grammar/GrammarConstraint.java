package io.moeflow.engine.grammar;

import io.moeflow.engine.TokenConstraint;
import java.util.ArrayDeque;

/**
 * A {@link TokenConstraint} from a byte grammar: a token is allowed when the grammar can go on over all of its
 * text bytes ({@link TokenTrie}); an end-of-generation token when the text so far is complete. The allowed set
 * of each grammar state is computed once, by one walk of the vocabulary trie that drops a subtree at the first
 * refused byte, and kept (at most {@value #MAX_MASKS} masks, the oldest dropped first), so a state the
 * generation comes back to (inside a string, between the items of an array) costs one pass over the logits.
 *
 * <p>Build it once per grammar and vocabulary and share it: {@code GrammarConstraint.of(expr, trie)}; every
 * generation takes its own cursor with {@link #start()}.
 */
public final class GrammarConstraint implements TokenConstraint {
    static final int MAX_MASKS = 512;

    private final CompiledGrammar grammar;
    private final TokenTrie trie;
    /** States holding a mask, oldest first; guarded by the grammar's lock. */
    private final ArrayDeque<CompiledGrammar.State> masked = new ArrayDeque<>();

    private GrammarConstraint(CompiledGrammar grammar, TokenTrie trie) {
        this.grammar = grammar;
        this.trie = trie;
    }

    /** The constraint that generated text is a sentence of {@code root}, over the vocabulary of {@code trie}. */
    public static GrammarConstraint of(Grammar.Expr root, TokenTrie trie) {
        return new GrammarConstraint(Grammar.compile(root), trie);
    }

    public CompiledGrammar grammar() {
        return grammar;
    }

    @Override
    public Cursor start() {
        return new GrammarCursor(grammar.start());
    }

    /**
     * The allowed tokens of a state, in the smallest of three forms: the allowed ids (few allowed: structure,
     * whitespace), the refused ids (inside a string nearly everything is allowed) or a bit per token.
     */
    record Mask(int[] ids, boolean idsAllowed, long[] bits, int count) {
        static Mask of(long[] bits, int count, int vocab) {
            int words = bits.length;
            if (count <= words * 2 || vocab - count <= words * 2) {
                boolean allowed = count <= words * 2;
                int[] ids = new int[allowed ? count : vocab - count];
                int k = 0;
                for (int t = 0; t < vocab; t++) if (((bits[t >>> 6] >>> (t & 63) & 1L) != 0) == allowed) ids[k++] = t;
                return new Mask(ids, allowed, null, count);
            }
            return new Mask(null, false, bits, count);
        }

        /**
         * Sets the refused logits of {@code logits[offset .. offset + known)} to -infinity; returns how many stay.
         * {@code scratch} holds at least {@link #count} floats.
         */
        int apply(float[] logits, int offset, int known, float[] scratch) {
            int allowed = 0;
            if (bits != null) {
                for (int i = 0; i < known; i++) {
                    if ((bits[i >>> 6] >>> (i & 63) & 1L) == 0) logits[offset + i] = Float.NEGATIVE_INFINITY;
                    else allowed++;
                }
            } else if (idsAllowed) {
                for (int id : ids) if (id < known) scratch[allowed++] = logits[offset + id];
                java.util.Arrays.fill(logits, offset, offset + known, Float.NEGATIVE_INFINITY);
                int k = 0;
                for (int id : ids) if (id < known) logits[offset + id] = scratch[k++];
            } else {
                allowed = known;
                for (int id : ids) {
                    if (id < known) {
                        logits[offset + id] = Float.NEGATIVE_INFINITY;
                        allowed--;
                    }
                }
            }
            return allowed;
        }
    }

    Mask mask(CompiledGrammar.State s) {
        return grammar.locked(() -> {
            if (s.tokenMask instanceof Mask m) return m;
            Mask m = computeMask(s);
            s.tokenMask = m;
            masked.add(s);
            if (masked.size() > MAX_MASKS) masked.poll().tokenMask = null;
            return m;
        });
    }

    /** One preorder walk of the trie; a refused byte skips the node's whole subtree. Caller holds the lock. */
    private Mask computeMask(CompiledGrammar.State s) {
        long[] bits = new long[(trie.vocabSize() + 63) >>> 6];
        int count = 0;
        CompiledGrammar.State[] path = new CompiledGrammar.State[trie.maxDepth + 1];
        path[0] = s;
        int nodes = trie.nodes();
        for (int i = 0; i < nodes; ) {
            int depth = trie.nodeDepth[i];
            CompiledGrammar.State t = grammar.stepLocked(path[depth - 1], trie.nodeByte[i] & 0xFF);
            if (CompiledGrammar.dead(t)) {
                i = trie.nodeSkip[i];
                continue;
            }
            path[depth] = t;
            for (int k = trie.nodeTokensStart[i]; k < trie.nodeTokensEnd[i]; k++) {
                int token = trie.tokens[k];
                bits[token >>> 6] |= 1L << (token & 63);
                count++;
            }
            i++;
        }
        if (s.complete()) {
            for (int token = 0; token < trie.vocabSize(); token++) {
                if (trie.isEndOfGeneration(token)) {
                    bits[token >>> 6] |= 1L << (token & 63);
                    count++;
                }
            }
        }
        return Mask.of(bits, count, trie.vocabSize());
    }

    private final class GrammarCursor implements Cursor {
        private CompiledGrammar.State state;
        private boolean endedByToken;
        /** Holds the allowed logits while a list mask resets the row. */
        private float[] scratch;

        GrammarCursor(CompiledGrammar.State start) {
            this.state = start;
        }

        @Override
        public int mask(float[] logits, int offset, int vocab) {
            if (endedByToken) {
                java.util.Arrays.fill(logits, offset, offset + vocab, Float.NEGATIVE_INFINITY);
                return 0;
            }
            Mask m = GrammarConstraint.this.mask(state);
            int known = Math.min(vocab, trie.vocabSize());
            if (scratch == null || scratch.length < m.count()) scratch = new float[m.count()];
            int allowed = m.apply(logits, offset, known, scratch);
            java.util.Arrays.fill(logits, offset + known, offset + vocab, Float.NEGATIVE_INFINITY);
            return allowed;
        }

        @Override
        public boolean allows(int token) {
            return next(token) != null;
        }

        /** The state after the token, null when it is not allowed (an end-of-generation token keeps the state). */
        private CompiledGrammar.State next(int token) {
            if (endedByToken || token < 0 || token >= trie.vocabSize()) return null;
            if (trie.isEndOfGeneration(token)) return state.complete() ? state : null;
            byte[] bytes = trie.bytes(token);
            if (bytes.length == 0) return null; // a control token: no text, never part of a sentence
            return grammar.walk(state, bytes);
        }

        @Override
        public void accept(int token) {
            CompiledGrammar.State next = next(token);
            if (next == null) throw new IllegalArgumentException("token " + token + " is not allowed by the grammar here");
            if (trie.isEndOfGeneration(token)) endedByToken = true;
            state = next;
        }

        @Override
        public boolean complete() {
            return state.complete();
        }

        @Override
        public boolean finished() {
            return endedByToken || state.finished();
        }
    }
}
