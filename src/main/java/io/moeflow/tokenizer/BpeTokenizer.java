package io.moeflow.tokenizer;

import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;
import java.util.HashMap;
import java.util.List;
import java.util.PriorityQueue;

/**
 * Byte-level BPE as llama.cpp's llm_tokenizer_bpe: the pre-tokenizer of tokenizer.ggml.pre splits the
 * text into words, each word's UTF-8 bytes are mapped to GPT-2's printable characters, and adjacent
 * symbols are merged lowest merge rank first.
 */
final class BpeTokenizer extends BaseTokenizer {
    private final PreTokenizer preTokenizer;
    private final boolean ignoreMerges;
    /** Merge rank by "left right" (a merge's own text). */
    private final HashMap<String, Integer> ranks;

    BpeTokenizer(Vocabulary v) {
        this(v, PreTokenizer.config(v.pre()));
    }

    private BpeTokenizer(Vocabulary v, PreTokenizer.Config config) {
        super(v, config.cleanSpaces());
        preTokenizer = new PreTokenizer(config);
        ignoreMerges = config.ignoreMerges();
        String[] merges = v.merges();
        if (merges == null && !config.mergesOptional()) {
            throw new IllegalArgumentException("BPE vocabulary has no merges (tokenizer.ggml.merges)");
        }
        if (merges == null) {
            merges = new String[0]; // kimi-k2 in llama.cpp: no merges, every byte stays a symbol
        }
        ranks = HashMap.newHashMap(merges.length);
        for (int i = 0; i < merges.length; i++) {
            String m = merges[i];
            if (m != null && m.indexOf(' ', 1) > 0) {
                ranks.putIfAbsent(m, i); // the first occurrence keeps its rank, as std::unordered_map::emplace
            }
        }
    }

    @Override
    byte[] normalPiece(String text) {
        ByteArrayOutputStream out = new ByteArrayOutputStream(text.length());
        for (int i = 0; i < text.length(); ) {
            int cp = text.codePointAt(i);
            int b = ByteLevel.decode(cp);
            if (b >= 0) {
                out.write(b);
            } else {
                // not a byte-level character: keep its UTF-8 (llama.cpp writes an "[UNK_BYTE_..]" marker)
                out.writeBytes(new String(Character.toChars(cp)).getBytes(StandardCharsets.UTF_8));
            }
            i += Character.charCount(cp);
        }
        return out.toByteArray();
    }

    @Override
    void encodeFragments(List<Fragment> fragments, String text, boolean addSpecial, IntList out) {
        addBos(addSpecial, out);
        for (Fragment f : fragments) {
            if (f.isToken()) {
                out.add(f.token());
            } else {
                tokenize(text.substring(f.start(), f.end()), out);
            }
        }
        addEos(addSpecial, out);
    }

    private void tokenize(String text, IntList out) {
        int[] cps = codePoints(text);
        int[] wordLengths = preTokenizer.split(cps);
        int pos = 0;
        for (int wl : wordLengths) {
            byte[] utf8 = new String(cps, pos, wl).getBytes(StandardCharsets.UTF_8);
            pos += wl;
            if (utf8.length > 0) {
                tokenizeWord(ByteLevel.encode(utf8, 0, utf8.length), out);
            }
        }
    }

    /** Code points of a string, lone surrogates replaced by U+FFFD (as llama.cpp does with invalid UTF-8). */
    private static int[] codePoints(String s) {
        int[] cps = s.codePoints().toArray();
        for (int i = 0; i < cps.length; i++) {
            if (cps[i] >= Character.MIN_SURROGATE && cps[i] <= Character.MAX_SURROGATE) {
                cps[i] = 0xFFFD;
            }
        }
        return cps;
    }

    /** A candidate merge; {@code leftLen}/{@code rightLen} tell whether it is still current. */
    private record Bigram(int left, int right, int rank, int leftLen, int rightLen) {}

    /** BPE over one byte-level word: every char is one byte, so symbols are char ranges. */
    private void tokenizeWord(String word, IntList out) {
        if (ignoreMerges) {
            Integer whole = tokenToId.get(word);
            if (whole != null) {
                out.add(whole);
                return;
            }
        }
        int n = word.length();
        int[] len = new int[n];
        int[] prev = new int[n];
        int[] next = new int[n];
        for (int i = 0; i < n; i++) {
            len[i] = 1;
            prev[i] = i - 1;
            next[i] = i + 1 < n ? i + 1 : -1;
        }
        // lowest rank first; on a tie, the leftmost (llama.cpp's comparator)
        PriorityQueue<Bigram> queue = new PriorityQueue<>(Math.max(n, 1),
                (a, b) -> a.rank != b.rank ? Integer.compare(a.rank, b.rank) : Integer.compare(a.left, b.left));
        for (int i = 1; i < n; i++) {
            addBigram(word, len, i - 1, i, queue);
        }
        while (!queue.isEmpty()) {
            Bigram b = queue.poll();
            int l = b.left;
            int r = b.right;
            // current only if neither side changed since the candidate was made
            if (len[l] != b.leftLen || len[r] != b.rightLen) {
                continue;
            }
            len[l] += len[r];
            len[r] = 0;
            next[l] = next[r];
            if (next[r] >= 0) {
                prev[next[r]] = l;
            }
            addBigram(word, len, prev[l], l, queue);
            addBigram(word, len, l, next[l], queue);
        }
        for (int i = 0; i != -1; i = next[i]) {
            String s = word.substring(i, i + len[i]);
            Integer id = tokenToId.get(s);
            if (id != null) {
                out.add(id);
                continue;
            }
            // llama.cpp looks up each UTF-8 byte of the symbol alone: only ASCII characters can match
            for (int k = 0; k < s.length(); k++) {
                char c = s.charAt(k);
                Integer single = c < 0x80 ? tokenToId.get(String.valueOf(c)) : null;
                if (single != null) {
                    out.add(single);
                }
            }
        }
    }

    private void addBigram(String word, int[] len, int left, int right, PriorityQueue<Bigram> queue) {
        if (left == -1 || right == -1) {
            return;
        }
        // symbols are contiguous: left starts at index left, right at index right
        String key = word.substring(left, left + len[left]) + ' ' + word.substring(right, right + len[right]);
        Integer rank = ranks.get(key);
        if (rank != null) {
            queue.add(new Bigram(left, right, rank, len[left], len[right]));
        }
    }
}
