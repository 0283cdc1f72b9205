package io.moeflow.tokenizer;

import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.PriorityQueue;

/**
 * SentencePiece BPE as llama.cpp's llm_tokenizer_spm: spaces become U+2581 (with one prepended at the
 * start and after each special token when add_space_prefix), then adjacent symbols are merged greedily,
 * highest-scoring vocabulary token first; characters left outside the vocabulary fall back to byte
 * tokens &lt;0xNN&gt;.
 */
final class SpmTokenizer extends BaseTokenizer {
    private static final char SPACE_MARK = '\u2581';
    private final float[] scores;
    /** Byte token per byte value (-1 = none), for the byte fallback. */
    private final int[] byteTokens = new int[256];

    SpmTokenizer(Vocabulary v) {
        super(v, false);
        scores = v.scores();
        for (int b = 0; b < 256; b++) {
            Integer id = tokenToId.get(String.format("<0x%02X>", b));
            if (id == null && b < 0x80) {
                id = tokenToId.get(String.valueOf((char) b));
            }
            byteTokens[b] = id == null ? -1 : id;
        }
    }

    @Override
    byte[] normalPiece(String text) {
        return text.replace(SPACE_MARK, ' ').getBytes(StandardCharsets.UTF_8);
    }

    @Override
    void encodeFragments(List<Fragment> fragments, String text, boolean addSpecial, IntList out) {
        addBos(addSpecial, out);
        boolean prevSpecial = true; // a space is prefixed to the first text and after each special token
        for (Fragment f : fragments) {
            if (f.isToken()) {
                out.add(f.token());
                prevSpecial = true;
                continue;
            }
            StringBuilder sb = new StringBuilder(f.end() - f.start() + 1);
            if (vocab.addSpacePrefix() && prevSpecial) {
                sb.append(SPACE_MARK);
            }
            for (int i = f.start(); i < f.end(); i++) {
                char c = text.charAt(i);
                sb.append(c == ' ' ? SPACE_MARK : c);
            }
            tokenize(sb.toString(), out);
            prevSpecial = false;
        }
        addEos(addSpecial, out);
    }

    /** A candidate merge of two adjacent symbols into a vocabulary token. */
    private record Bigram(int left, int right, float score, int size) {}

    private void tokenize(String text, IntList out) {
        int n = text.codePointCount(0, text.length());
        if (n == 0) {
            return;
        }
        // symbols: one per code point, as a linked list over [start, start + len) char ranges
        int[] start = new int[n];
        int[] len = new int[n];
        int[] prev = new int[n];
        int[] next = new int[n];
        for (int i = 0, off = 0; i < n; i++) {
            int cl = Character.charCount(text.codePointAt(off));
            start[i] = off;
            len[i] = cl;
            prev[i] = i - 1;
            next[i] = i + 1 < n ? i + 1 : -1;
            off += cl;
        }
        // highest score first; on a tie, the leftmost (llama.cpp's comparator)
        PriorityQueue<Bigram> queue = new PriorityQueue<>(Math.max(n, 1), (a, b) -> a.score != b.score
                ? Float.compare(b.score, a.score) : Integer.compare(a.left, b.left));
        for (int i = 1; i < n; i++) {
            tryAddBigram(text, start, len, i - 1, i, queue);
        }
        while (!queue.isEmpty()) {
            Bigram b = queue.poll();
            int l = b.left;
            int r = b.right;
            // skip stale candidates: one side was merged since
            if (len[l] == 0 || len[r] == 0 || len[l] + len[r] != b.size) {
                continue;
            }
            len[l] += len[r];
            len[r] = 0;
            next[l] = next[r];
            if (next[r] >= 0) {
                prev[next[r]] = l;
            }
            tryAddBigram(text, start, len, prev[l], l, queue);
            tryAddBigram(text, start, len, l, next[l], queue);
        }
        // Every merged symbol is a vocabulary token (merges only form tokens), so llama.cpp's rev_merge
        // re-segmentation never applies: a symbol is a token or a character that falls back to bytes.
        for (int i = 0; i != -1; i = next[i]) {
            String s = text.substring(start[i], start[i] + len[i]);
            Integer id = tokenToId.get(s);
            if (id != null) {
                out.add(id);
            } else {
                for (byte b : s.getBytes(StandardCharsets.UTF_8)) {
                    out.add(byteToken(b & 0xFF));
                }
            }
        }
    }

    private void tryAddBigram(String text, int[] start, int[] len, int left, int right, PriorityQueue<Bigram> queue) {
        if (left == -1 || right == -1) {
            return;
        }
        int size = len[left] + len[right];
        Integer id = tokenToId.get(text.substring(start[left], start[left] + size));
        if (id == null) {
            return;
        }
        queue.add(new Bigram(left, right, scores == null ? 0f : scores[id], size));
    }

    private int byteToken(int b) {
        int id = byteTokens[b];
        if (id >= 0) {
            return id;
        }
        if (vocab.unk() >= 0) {
            return vocab.unk(); // llama.cpp aborts here; the unknown token is the sane stand-in
        }
        throw new IllegalArgumentException(String.format("vocabulary has no byte token <0x%02X> for a character "
                + "outside it, and no unknown token", b));
    }
}
