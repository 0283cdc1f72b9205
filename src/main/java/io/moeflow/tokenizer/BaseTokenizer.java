package io.moeflow.tokenizer;

import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.BitSet;
import java.util.Comparator;
import java.util.HashMap;
import java.util.List;
import java.util.stream.IntStream;

/**
 * What SentencePiece and BPE share in llama.cpp's llama_vocab: the token table and attributes, the
 * split of the input at special tokens (tokenizer_st_partition), and detokenization.
 */
abstract sealed class BaseTokenizer implements Tokenizer permits SpmTokenizer, BpeTokenizer {
    final Vocabulary vocab;
    final String[] texts;
    final int[] attrs;
    final HashMap<String, Integer> tokenToId;
    private final BitSet eog;
    /** Pieces with special = true (llama.cpp's cache_token_to_piece). */
    private final byte[][] pieces;
    /** Tokens matched as a whole in the input text: control, user-defined and unknown, longest text first. */
    private final int[] specialTokens;
    private final SpecialTrie specialTrie;
    private final boolean cleanSpaces;
    private static final byte[] EMPTY = new byte[0];

    BaseTokenizer(Vocabulary v, boolean cleanSpaces) {
        this.vocab = v;
        this.cleanSpaces = cleanSpaces;
        String[] tokens = v.tokens();
        if (tokens == null || tokens.length == 0) {
            throw new IllegalArgumentException("vocabulary has no tokens (tokenizer.ggml.tokens)");
        }
        int n = tokens.length;
        if (v.scores() != null && v.scores().length < n) {
            throw new IllegalArgumentException("tokenizer.ggml.scores has " + v.scores().length + " entries for " + n + " tokens");
        }
        if (v.tokenTypes() != null && v.tokenTypes().length < n) {
            throw new IllegalArgumentException("tokenizer.ggml.token_type has " + v.tokenTypes().length + " entries for "
                    + n + " tokens");
        }
        checkId("bos", v.bos(), n);
        checkId("eos", v.eos(), n);
        checkId("unk", v.unk(), n);
        if (v.addBos() && v.bos() < 0) {
            throw new IllegalArgumentException("add_bos_token is true, but the vocabulary has no bos token");
        }
        if (v.addEos() && v.eos() < 0) {
            throw new IllegalArgumentException("add_eos_token is true, but the vocabulary has no eos token");
        }
        texts = TokenTexts.of(tokens);
        tokenToId = HashMap.newHashMap(n);
        for (int i = 0; i < n; i++) {
            Integer previous = tokenToId.putIfAbsent(texts[i], i);
            if (previous != null) {
                throw new IllegalArgumentException("duplicate token in vocabulary: '" + texts[i] + "' has ids "
                        + previous + " and " + i);
            }
        }
        attrs = TokenAttributes.compute(texts, v.tokenTypes());
        eog = TokenAttributes.toBitSet(v.eogIds() == null ? new int[] {v.eos()} : v.eogIds());
        pieces = new byte[n][];
        for (int i = 0; i < n; i++) {
            pieces[i] = piece(i);
        }
        int special = TokenAttributes.CONTROL | TokenAttributes.USER_DEFINED | TokenAttributes.UNKNOWN;
        specialTokens = IntStream.range(0, n).filter(i -> (attrs[i] & special) != 0).boxed()
                .sorted(Comparator.comparingInt((Integer i) -> -texts[i].length()))
                .mapToInt(Integer::intValue).toArray();
        specialTrie = new SpecialTrie();
        for (int id : specialTokens) {
            specialTrie.add(texts[id], id);
        }
    }

    /**
     * The special tokens as a character trie, to find in one pass over the text which of them occur at all
     * (vocabularies have thousands of user-defined tokens; most texts contain none of them).
     */
    private static final class SpecialTrie {
        private final HashMap<Character, SpecialTrie> children = new HashMap<>();
        private int id = -1;

        void add(String text, int tokenId) {
            SpecialTrie node = this;
            for (int i = 0; i < text.length(); i++) {
                node = node.children.computeIfAbsent(text.charAt(i), c -> new SpecialTrie());
            }
            node.id = tokenId;
        }

        /** Marks in {@code found} every token that occurs somewhere in the text. */
        void occurring(String text, BitSet found) {
            for (int start = 0; start < text.length(); start++) {
                SpecialTrie node = this;
                for (int i = start; i < text.length(); i++) {
                    node = node.children.get(text.charAt(i));
                    if (node == null) {
                        break;
                    }
                    if (node.id >= 0) {
                        found.set(node.id);
                    }
                }
            }
        }
    }

    private static void checkId(String what, int id, int n) {
        if (id < -1 || id >= n) {
            throw new IllegalArgumentException(what + " token id " + id + " is outside the vocabulary (0.." + (n - 1) + ")");
        }
    }

    /** The piece of a NORMAL token (SentencePiece: U+2581 to space; BPE: characters back to bytes). */
    abstract byte[] normalPiece(String text);

    /** Appends the ids of the partitioned text: special-token fragments as they are, raw text tokenized. */
    abstract void encodeFragments(List<Fragment> fragments, String text, boolean addSpecial, IntList out);

    private byte[] piece(int id) {
        int a = attrs[id];
        String t = texts[id];
        if ((a & (TokenAttributes.UNKNOWN | TokenAttributes.CONTROL | TokenAttributes.USER_DEFINED)) != 0) {
            return t.getBytes(StandardCharsets.UTF_8);
        }
        if ((a & TokenAttributes.NORMAL) != 0) {
            return normalPiece(t);
        }
        if ((a & TokenAttributes.BYTE) != 0) {
            return new byte[] {(byte) byteOfToken(t)};
        }
        return EMPTY; // undefined and unused tokens render as nothing
    }

    /** The byte of a byte token "&lt;0xNN&gt;". */
    static int byteOfToken(String t) {
        if (t.length() == 6 && t.startsWith("<0x") && t.endsWith(">")) {
            try {
                return Integer.parseInt(t.substring(3, 5), 16);
            } catch (NumberFormatException e) {
                // reported below
            }
        }
        throw new IllegalArgumentException("byte token '" + t + "' is not of the form <0xNN>");
    }

    // ---- encoding ----

    /** A piece of the input: either raw text [start, end) or one special token. */
    record Fragment(int token, int start, int end) {
        boolean isToken() {
            return token >= 0;
        }
    }

    @Override
    public int[] encode(String text, boolean addSpecial, boolean parseSpecial) {
        if (text == null) {
            throw new IllegalArgumentException("text to encode is null");
        }
        IntList out = new IntList(text.length() / 3 + 4);
        encodeFragments(partition(text, parseSpecial), text, addSpecial, out);
        return out.toArray();
    }

    /** llama.cpp's tokenizer_st_partition: splits the text at special tokens, longest token first. */
    List<Fragment> partition(String text, boolean parseSpecial) {
        List<Fragment> fragments = new ArrayList<>();
        if (text.isEmpty()) {
            return fragments;
        }
        fragments.add(new Fragment(-1, 0, text.length()));
        BitSet occurring = new BitSet();
        specialTrie.occurring(text, occurring);
        if (occurring.isEmpty()) {
            return fragments;
        }
        for (int id : specialTokens) {
            if (!occurring.get(id)) {
                continue;
            }
            if (!parseSpecial && (attrs[id] & (TokenAttributes.CONTROL | TokenAttributes.UNKNOWN)) != 0) {
                continue; // user-defined tokens are still matched, as in llama.cpp and Hugging Face
            }
            String t = texts[id];
            List<Fragment> next = new ArrayList<>(fragments.size() + 4);
            for (Fragment f : fragments) {
                if (f.isToken()) {
                    next.add(f);
                    continue;
                }
                int pos = f.start();
                while (true) {
                    int match = text.indexOf(t, pos);
                    if (match < 0 || match + t.length() > f.end()) {
                        break;
                    }
                    if (match > pos) {
                        next.add(new Fragment(-1, pos, match));
                    }
                    next.add(new Fragment(id, match, match + t.length()));
                    pos = match + t.length();
                }
                if (pos < f.end()) {
                    next.add(new Fragment(-1, pos, f.end()));
                }
            }
            fragments = next;
        }
        return fragments;
    }

    // ---- decoding ----

    /** The piece with special = false: control and unknown tokens render as nothing. */
    byte[] renderedPiece(int id) {
        checkToken(id);
        return (attrs[id] & (TokenAttributes.CONTROL | TokenAttributes.UNKNOWN)) != 0 ? EMPTY : pieces[id];
    }

    private void checkToken(int id) {
        if (id < 0 || id >= pieces.length) {
            throw new IllegalArgumentException("token id " + id + " is outside the vocabulary (0.." + (pieces.length - 1) + ")");
        }
    }

    @Override
    public String decode(int[] ids) {
        ByteArrayOutputStream out = new ByteArrayOutputStream(ids.length * 4);
        boolean removeSpace = vocab.addSpacePrefix();
        for (int id : ids) {
            byte[] p = renderedPiece(id);
            if (p.length == 0) {
                continue;
            }
            int skip = removeSpace && p[0] == ' ' ? 1 : 0;
            out.write(p, skip, p.length - skip);
            removeSpace = false;
        }
        byte[] bytes = out.toByteArray();
        int len = cleanSpaces ? cleanUpSpaces(bytes) : bytes.length;
        return new String(bytes, 0, len, StandardCharsets.UTF_8);
    }

    /** llama.cpp's clean_up_tokenization_spaces passes (in place); returns the new length. */
    static int cleanUpSpaces(byte[] text) {
        int total = text.length;
        // " ?", " !", " .", " ,": drop the space
        int total1 = total;
        total = total > 0 ? 1 : 0;
        for (int i = 1; i < total1; i++) {
            byte x = text[i];
            if (text[i - 1] == ' ' && (x == '?' || x == '!' || x == '.' || x == ',')) {
                total--;
            }
            text[total++] = x;
        }
        // " ' ": drop both spaces around a single apostrophe
        int total2 = total;
        total = total > 0 ? 1 : 0;
        for (int i = 1; i < total2; i++) {
            byte x = text[i];
            if (x == '\'' && i + 1 < total2 && text[i - 1] == ' ' && text[i + 1] == ' ') {
                total--;
                text[++i] = 0;
            }
            text[total++] = x;
        }
        // " 's", " 'm", " 're", " 've": drop the space
        int total3 = total;
        total = total > 0 ? 1 : 0;
        for (int i = 1; i < total3; i++) {
            byte x = text[i];
            if (text[i - 1] == ' ' && x == '\'' && i + 1 < total3) {
                byte x1 = text[i + 1];
                if (x1 == 's' || x1 == 'm') {
                    total--;
                } else if (x1 != 't' && x1 != 'd' && i + 2 < total3) {
                    byte x2 = text[i + 2];
                    if ((x1 == 'r' && x2 == 'e') || (x1 == 'v' && x2 == 'e')) {
                        total--;
                    }
                }
            }
            text[total++] = x;
        }
        return total;
    }

    @Override
    public byte[] textBytes(int id) {
        return renderedPiece(id);
    }

    @Override
    public byte[] pieceBytes(int id) {
        checkToken(id);
        return pieces[id].clone();
    }

    @Override
    public TextStream newStream() {
        return new Utf8TextStream(this);
    }

    @Override
    public int vocabSize() {
        return texts.length;
    }

    @Override
    public int bos() {
        return vocab.bos();
    }

    @Override
    public int eos() {
        return vocab.eos();
    }

    @Override
    public boolean isEog(int id) {
        return id >= 0 && eog.get(id);
    }

    @Override
    public boolean isControl(int id) {
        return id >= 0 && id < attrs.length && (attrs[id] & TokenAttributes.CONTROL) != 0;
    }

    @Override
    public Vocabulary vocabulary() {
        return vocab;
    }

    /** Appends bos when asked for and the vocabulary adds it. */
    void addBos(boolean addSpecial, IntList out) {
        if (addSpecial && vocab.addBos()) {
            out.add(vocab.bos());
        }
    }

    void addEos(boolean addSpecial, IntList out) {
        if (addSpecial && vocab.addEos()) {
            out.add(vocab.eos());
        }
    }
}
