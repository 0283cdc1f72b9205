package io.moeflow.tokenizer;

/**
 * Text to token ids and back, reproducing llama.cpp's tokenizers (llama-vocab.cpp): SentencePiece for
 * tokenizer.ggml.model "llama" and byte-level BPE for "gpt2". Instances are immutable and thread-safe.
 */
public interface Tokenizer {

    /** The tokenizer for a vocabulary; throws IllegalArgumentException for an unsupported model or pre-tokenizer. */
    static Tokenizer of(Vocabulary v) {
        if (v == null) {
            throw new IllegalArgumentException("vocabulary is null");
        }
        String model = v.model();
        if ("llama".equals(model)) {
            return new SpmTokenizer(v);
        }
        if ("gpt2".equals(model)) {
            return new BpeTokenizer(v);
        }
        throw new IllegalArgumentException("unsupported tokenizer model (tokenizer.ggml.model) '" + model
                + "': supported are 'llama' (SentencePiece) and 'gpt2' (byte-level BPE)");
    }

    /**
     * Token ids of a text (llama_tokenize).
     *
     * @param addSpecial   add bos / eos as the vocabulary's add_bos / add_eos say
     * @param parseSpecial control tokens written in the text (e.g. "&lt;|im_end|&gt;") become their ids; when false
     *                     only user-defined tokens are matched as a whole, as in llama.cpp
     */
    int[] encode(String text, boolean addSpecial, boolean parseSpecial);

    /**
     * The text of some ids as a whole (llama.cpp's common_detokenize with special = false): control and
     * unknown tokens render as nothing, bytes are joined before UTF-8 decoding (invalid sequences become
     * U+FFFD). With add_space_prefix, the leading space of the first rendered piece is dropped, also after a
     * leading bos (llama.cpp's lstrip would hit the bos itself and keep the space), so that decoding the ids
     * of encode(text, true, ...) gives back text.
     */
    String decode(int[] ids);

    /**
     * The raw bytes of one token's piece (llama_token_to_piece with special = true): byte tokens give their
     * byte, SentencePiece U+2581 becomes a space, byte-level BPE characters map back to bytes, control and
     * user-defined tokens give their text. May be an incomplete UTF-8 sequence.
     */
    byte[] pieceBytes(int id);

    /**
     * The bytes a token adds to generated text (llama_token_to_piece with special = false): like
     * {@link #pieceBytes} but empty for control and unknown tokens. The array is shared: do not modify it.
     */
    byte[] textBytes(int id);

    /** An incremental detokenizer for generated ids (control tokens render as nothing, no space is dropped). */
    TextStream newStream();

    int vocabSize();

    /** The begin-of-sequence id, or -1. */
    int bos();

    /** The end-of-sequence id, or -1. */
    int eos();

    /** Whether the id ends generation (eos, eot, eom and llama.cpp's other end-of-generation tokens). */
    boolean isEog(int id);

    /** Whether the id is a control token (as llama.cpp types it, including its text-based overrides). */
    boolean isControl(int id);

    Vocabulary vocabulary();
}
