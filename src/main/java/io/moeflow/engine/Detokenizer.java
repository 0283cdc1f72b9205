package io.moeflow.engine;

import io.moeflow.tokenizer.TextStream;
import io.moeflow.tokenizer.Tokenizer;
import java.util.function.IntFunction;
import java.util.function.IntPredicate;

/**
 * What generation needs from a tokenizer: an incremental text stream per generation and which tokens end a
 * generation. Called from the step-loop thread; tokenizers are immutable and thread-safe.
 */
public interface Detokenizer {
    /** Emits no text and ends nothing: for benchmarks and tests that only look at token ids. */
    Detokenizer NONE = perToken(token -> "", token -> false);

    /** A fresh incremental detokenizer for one generation (complete UTF-8 characters only). */
    TextStream newStream();

    /** True for the tokens that end a generation (EOS, EOT, ...). */
    boolean isEndOfGeneration(int token);

    /** The tokenizer's streams and end-of-generation tokens. */
    static Detokenizer of(Tokenizer tokenizer) {
        return new Detokenizer() {
            @Override
            public TextStream newStream() {
                return tokenizer.newStream();
            }

            @Override
            public boolean isEndOfGeneration(int token) {
                return tokenizer.isEog(token);
            }
        };
    }

    /**
     * Whole text per token, with no state between tokens (no multi-byte characters split across tokens): for
     * tests and synthetic vocabularies.
     */
    static Detokenizer perToken(IntFunction<String> text, IntPredicate endOfGeneration) {
        TextStream stream = new TextStream() {
            @Override
            public String push(int id) {
                return text.apply(id);
            }

            @Override
            public String flush() {
                return "";
            }
        };
        return new Detokenizer() {
            @Override
            public TextStream newStream() {
                return stream; // stateless, so one serves every generation
            }

            @Override
            public boolean isEndOfGeneration(int token) {
                return endOfGeneration.test(token);
            }
        };
    }
}
