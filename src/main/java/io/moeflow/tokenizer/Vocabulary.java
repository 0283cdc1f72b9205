package io.moeflow.tokenizer;

import io.moeflow.gguf.GgufFile;

/**
 * A model's vocabulary as GGUF stores it (the tokenizer.ggml.* keys), with llama.cpp's defaults already
 * applied, so a tokenizer can be built from it without the file. Ids that are absent are -1.
 *
 * @param model          tokenizer.ggml.model: "llama" (SentencePiece), "gpt2" (byte-level BPE), ...
 * @param pre            tokenizer.ggml.pre, the pre-tokenizer type of BPE vocabularies; may be null
 * @param tokens         token texts, index = id
 * @param scores         SentencePiece merge scores per token; may be null (all 0)
 * @param tokenTypes     llama_token_type per token (1 normal, 2 unknown, 3 control, 4 user-defined,
 *                       5 unused, 6 byte); may be null (all normal)
 * @param merges         BPE merges "left right", in rank order; null for SentencePiece
 * @param eogIds         the tokens that end generation (eos, eot, eom, ...), as llama.cpp collects them
 * @param addBos         whether encoding with special tokens prepends bos
 * @param addEos         whether encoding with special tokens appends eos
 * @param addSpacePrefix SentencePiece: prepend a space to the text (and drop it again when decoding)
 * @param chatTemplate   tokenizer.chat_template (Jinja), or null
 */
public record Vocabulary(String model, String pre, String[] tokens, float[] scores, int[] tokenTypes, String[] merges,
                         int bos, int eos, int unk, int pad, int[] eogIds, boolean addBos, boolean addEos,
                         boolean addSpacePrefix, String chatTemplate) {

    static final String KEY_MODEL = "tokenizer.ggml.model";
    static final String KEY_PRE = "tokenizer.ggml.pre";
    static final String KEY_TOKENS = "tokenizer.ggml.tokens";
    static final String KEY_SCORES = "tokenizer.ggml.scores";
    static final String KEY_TOKEN_TYPE = "tokenizer.ggml.token_type";
    static final String KEY_MERGES = "tokenizer.ggml.merges";
    static final String KEY_BOS = "tokenizer.ggml.bos_token_id";
    static final String KEY_EOS = "tokenizer.ggml.eos_token_id";
    static final String KEY_UNK = "tokenizer.ggml.unknown_token_id";
    static final String KEY_PAD = "tokenizer.ggml.padding_token_id";
    static final String KEY_EOT = "tokenizer.ggml.eot_token_id";
    static final String KEY_EOM = "tokenizer.ggml.eom_token_id";
    static final String KEY_FIM_PAD = "tokenizer.ggml.fim_pad_token_id";
    static final String KEY_FIM_REP = "tokenizer.ggml.fim_rep_token_id";
    static final String KEY_FIM_SEP = "tokenizer.ggml.fim_sep_token_id";
    static final String KEY_ADD_BOS = "tokenizer.ggml.add_bos_token";
    static final String KEY_ADD_EOS = "tokenizer.ggml.add_eos_token";
    static final String KEY_ADD_SPACE_PREFIX = "tokenizer.ggml.add_space_prefix";
    static final String KEY_CHAT_TEMPLATE = "tokenizer.chat_template";

    /**
     * Read access to GGUF metadata, so the defaults logic does not depend on one file reader.
     * Each getter returns null when the key is absent.
     */
    public interface Metadata {
        String string(String key);

        /** An integer value (any GGUF integer type); unsigned 32-bit values such as 0xFFFFFFFF stay positive. */
        Long integer(String key);

        Boolean bool(String key);

        String[] stringArray(String key);

        float[] floatArray(String key);

        int[] intArray(String key);
    }

    /** The vocabulary in a GGUF file's metadata (tokenizer.ggml.*), with llama.cpp's defaults per tokenizer model. */
    public static Vocabulary fromGguf(GgufFile f) {
        return fromMetadata(new Metadata() {
            @Override
            public String string(String key) {
                return f.getString(key, null);
            }

            @Override
            public Long integer(String key) {
                return f.has(key) ? f.getLong(key) : null; // getLong: uint32 0xFFFFFFFF ("none") stays positive
            }

            @Override
            public Boolean bool(String key) {
                return f.has(key) ? f.getBool(key, false) : null;
            }

            @Override
            public String[] stringArray(String key) {
                return f.getStringArray(key);
            }

            @Override
            public float[] floatArray(String key) {
                return f.getFloatArray(key);
            }

            @Override
            public int[] intArray(String key) {
                return f.getIntArray(key);
            }
        });
    }

    /** The vocabulary in GGUF-style metadata, with llama.cpp's defaults per tokenizer model. */
    public static Vocabulary fromMetadata(Metadata md) {
        String model = md.string(KEY_MODEL);
        if (model == null) {
            throw new IllegalArgumentException("GGUF metadata has no " + KEY_MODEL + ": not a model with a vocabulary");
        }
        String[] tokens = md.stringArray(KEY_TOKENS);
        if (tokens == null) {
            throw new IllegalArgumentException("GGUF metadata has no " + KEY_TOKENS + " (tokenizer model '" + model + "')");
        }
        int n = tokens.length;
        String pre = md.string(KEY_PRE);
        float[] scores = md.floatArray(KEY_SCORES);
        int[] types = md.intArray(KEY_TOKEN_TYPE);
        String[] merges = md.stringArray(KEY_MERGES);
        if (scores != null && scores.length < n) {
            throw new IllegalArgumentException(KEY_SCORES + " has " + scores.length + " entries for " + n + " tokens");
        }
        if (types != null && types.length < n) {
            throw new IllegalArgumentException(KEY_TOKEN_TYPE + " has " + types.length + " entries for " + n + " tokens");
        }

        // llama.cpp's defaults per tokenizer model (llama_vocab::impl::load)
        int bos = -1;
        int eos = -1;
        int unk = -1;
        int pad = -1;
        boolean addBos = false;
        boolean addEos = false;
        boolean addSpacePrefix = false;
        switch (model) {
            case "llama" -> {
                bos = 1;
                eos = 2;
                unk = 0;
                addBos = true;
                addSpacePrefix = true;
            }
            case "gpt2" -> {
                PreTokenizer.Config config = knownPreConfig(pre);
                bos = config == null || config.defaultBos() ? 11 : -1;
                eos = 11;
                addBos = config != null && config.addBos();
            }
            case "bert" -> {
                bos = 101;
                unk = 100;
                pad = 0;
                addBos = true;
            }
            case "t5" -> {
                eos = 1;
                unk = 2;
                pad = 0;
                addEos = true;
            }
            default -> { }
        }
        bos = tokenId(md, KEY_BOS, bos, n);
        eos = tokenId(md, KEY_EOS, eos, n);
        unk = tokenId(md, KEY_UNK, unk, n);
        pad = tokenId(md, KEY_PAD, pad, n);
        addBos = bool(md, KEY_ADD_BOS, addBos);
        addEos = bool(md, KEY_ADD_EOS, addEos);
        addSpacePrefix = bool(md, KEY_ADD_SPACE_PREFIX, addSpacePrefix);

        String[] texts = TokenTexts.of(tokens);
        int[] eog = TokenAttributes.eogIds(texts, eos, tokenId(md, KEY_EOT, -1, n), tokenId(md, KEY_EOM, -1, n),
                tokenId(md, KEY_FIM_PAD, -1, n), tokenId(md, KEY_FIM_REP, -1, n), tokenId(md, KEY_FIM_SEP, -1, n));
        return new Vocabulary(model, pre, tokens, scores, types, merges, bos, eos, unk, pad, eog, addBos, addEos,
                addSpacePrefix, md.string(KEY_CHAT_TEMPLATE));
    }

    /** The pre-tokenizer's configuration, or null where it is unknown (Tokenizer.of reports that). */
    private static PreTokenizer.Config knownPreConfig(String pre) {
        try {
            return PreTokenizer.config(pre);
        } catch (IllegalArgumentException unknownPre) {
            return null;
        }
    }

    /** A special token id from the metadata; out-of-range values keep the default, as in llama.cpp. */
    private static int tokenId(Metadata md, String key, int def, int nTokens) {
        int id = def >= 0 && def < nTokens ? def : -1;
        Long v = md.integer(key);
        if (v != null && v >= 0 && v < nTokens) {
            id = (int) (long) v;
        }
        return id;
    }

    private static boolean bool(Metadata md, String key, boolean def) {
        Boolean b = md.bool(key);
        return b != null ? b : def;
    }

    @Override
    public String toString() {
        return "Vocabulary[model=" + model + ", pre=" + pre + ", tokens=" + tokens.length + ", merges="
                + (merges == null ? 0 : merges.length) + ", bos=" + bos + ", eos=" + eos + ", unk=" + unk
                + ", addBos=" + addBos + ", addEos=" + addEos + ", addSpacePrefix=" + addSpacePrefix + "]";
    }
}
