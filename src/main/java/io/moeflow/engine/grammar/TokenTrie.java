package io.moeflow.engine.grammar;

import io.moeflow.tokenizer.Tokenizer;
import java.util.Arrays;
import java.util.BitSet;

/**
 * A vocabulary's token texts as a byte trie, for finding every token a grammar state allows in one walk that
 * skips whole subtrees at the first byte the grammar refuses (a 150k vocabulary shares most prefixes). The bytes
 * of a token are what it adds to the generated text: {@link Tokenizer#textBytes} (byte-level BPE characters
 * mapped back to bytes, SentencePiece's U+2581 as a space, byte tokens as their byte; empty for control tokens).
 * Tokens with no bytes are either end-of-generation tokens (allowed when the grammar is complete) or never
 * allowed under a grammar. Immutable and thread-safe; build one per tokenizer.
 *
 * <p>Nodes are stored in preorder: node i has a byte, a depth (1 for a first byte), the index just past its
 * subtree ({@code skip}) and the tokens that end at it (a range of {@code tokens}, the ids sorted by bytes).
 */
public final class TokenTrie {
    private final int vocabSize;
    final byte[] nodeByte;
    final int[] nodeDepth;
    final int[] nodeSkip;
    final int[] nodeTokensStart;
    final int[] nodeTokensEnd;
    /** Token ids in byte order; the tokens of node i are tokens[nodeTokensStart[i] .. nodeTokensEnd[i]). */
    final int[] tokens;
    final int maxDepth;
    private final BitSet endOfGeneration;
    private final byte[][] bytes;

    /** The trie of a tokenizer's vocabulary. */
    public static TokenTrie of(Tokenizer tokenizer) {
        int n = tokenizer.vocabSize();
        byte[][] bytes = new byte[n][];
        BitSet eog = new BitSet(n);
        for (int i = 0; i < n; i++) {
            bytes[i] = tokenizer.textBytes(i);
            if (tokenizer.isEog(i)) eog.set(i);
        }
        return new TokenTrie(bytes, eog);
    }

    /** The trie of the given token bytes ({@code bytes[id]}, not modified afterwards) and end-of-generation ids. */
    public TokenTrie(byte[][] bytes, BitSet endOfGeneration) {
        this.vocabSize = bytes.length;
        this.bytes = bytes;
        this.endOfGeneration = (BitSet) endOfGeneration.clone();
        Integer[] order = new Integer[bytes.length];
        int withText = 0;
        for (int i = 0; i < bytes.length; i++) if (bytes[i].length > 0) order[withText++] = i;
        Integer[] sorted = Arrays.copyOf(order, withText);
        Arrays.sort(sorted, (a, b) -> {
            int c = Arrays.compareUnsigned(bytes[a], bytes[b]);
            return c != 0 ? c : Integer.compare(a, b);
        });
        tokens = new int[withText];
        int nodes = 0, depthMax = 0;
        byte[] previous = new byte[0];
        for (int k = 0; k < withText; k++) {
            byte[] t = bytes[sorted[k]];
            nodes += t.length - commonPrefix(previous, t);
            previous = t;
            depthMax = Math.max(depthMax, t.length);
        }
        maxDepth = depthMax;
        nodeByte = new byte[nodes];
        nodeDepth = new int[nodes];
        nodeSkip = new int[nodes];
        nodeTokensStart = new int[nodes];
        nodeTokensEnd = new int[nodes];
        int[] openAtDepth = new int[depthMax + 1]; // the node of each depth on the current path
        int node = 0;
        previous = new byte[0];
        for (int k = 0; k < withText; k++) {
            byte[] t = bytes[sorted[k]];
            int common = commonPrefix(previous, t);
            // the nodes deeper than the common prefix are complete: their subtrees end here
            for (int d = common + 1; d <= previous.length; d++) nodeSkip[openAtDepth[d]] = node;
            for (int d = common + 1; d <= t.length; d++) {
                nodeByte[node] = t[d - 1];
                nodeDepth[node] = d;
                nodeTokensStart[node] = k;
                nodeTokensEnd[node] = k;
                openAtDepth[d] = node;
                node++;
            }
            tokens[k] = sorted[k];
            nodeTokensEnd[openAtDepth[t.length]] = k + 1;
            previous = t;
        }
        for (int d = 1; d <= previous.length; d++) nodeSkip[openAtDepth[d]] = nodes;
    }

    private static int commonPrefix(byte[] a, byte[] b) {
        int m = Arrays.mismatch(a, b);
        return m < 0 ? a.length : Math.min(m, Math.min(a.length, b.length));
    }

    public int vocabSize() {
        return vocabSize;
    }

    public int nodes() {
        return nodeByte.length;
    }

    public boolean isEndOfGeneration(int token) {
        return endOfGeneration.get(token);
    }

    /** The text bytes of a token (shared: do not modify). */
    byte[] bytes(int token) {
        return bytes[token];
    }
}
