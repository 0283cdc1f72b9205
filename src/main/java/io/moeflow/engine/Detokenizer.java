package io.moeflow.engine;

/**
 * What generation needs from a tokenizer: the bytes each token adds to the output text and which tokens end a
 * generation. Implementations must be safe to call from the step-loop thread while other threads use the
 * tokenizer (the tokenizer is read-only after loading).
 */
public interface Detokenizer {
    /** Emits no text and ends nothing: for benchmarks and tests that only look at token ids. */
    Detokenizer NONE = new Detokenizer() {
        private static final byte[] EMPTY = new byte[0];

        @Override
        public byte[] tokenBytes(int token) {
            return EMPTY;
        }

        @Override
        public boolean isEndOfGeneration(int token) {
            return false;
        }
    };

    /**
     * The UTF-8 bytes the token contributes to generated text, possibly only part of a multi-byte character
     * (byte-fallback and byte-level tokens); empty for control tokens. Callers do not modify the array.
     */
    byte[] tokenBytes(int token);

    /** True for the tokens that end a generation (EOS, EOT, ...). */
    boolean isEndOfGeneration(int token);
}
