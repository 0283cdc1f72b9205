package io.moeflow.engine;

/**
 * Which tokens a generation may produce next, for constrained sampling (structured output, forced tool calls). A
 * constraint is immutable and may be shared by many generations; each generation walks its own {@link Cursor}.
 * {@link io.moeflow.engine.grammar.GrammarConstraint} is the one implementation: a byte grammar matched over each
 * vocabulary token's text bytes.
 *
 * <p>Contract with {@link Sequence}: before every sample the cursor masks the logits (disallowed tokens become
 * -infinity, in the greedy and the sampled path alike); every accepted token advances it. Once the grammar is
 * complete, the end-of-generation tokens are allowed (and, when nothing else can follow, they are all that is
 * allowed; the sequence then stops at once without sampling). A cursor with no allowed token at all is a dead end:
 * the sequence ends with an error instead of producing text outside the grammar.
 */
public interface TokenConstraint {
    /** A cursor at the start of the grammar, for one generation. */
    Cursor start();

    /** The state of one generation in the constraint. Not thread-safe: the step loop owns it. */
    interface Cursor {
        /**
         * Sets the logits of the tokens not allowed next to -infinity in {@code logits[offset .. offset + vocab)}
         * (ids beyond the tokenizer's vocabulary are never allowed); returns how many tokens stay allowed.
         */
        int mask(float[] logits, int offset, int vocab);

        /** Whether {@code token} is allowed next. */
        boolean allows(int token);

        /** Advances over {@code token}; throws IllegalArgumentException when it is not allowed. */
        void accept(int token);

        /** The text so far is a complete sentence of the grammar (an end-of-generation token may come now). */
        boolean complete();

        /** Complete, and no further text can follow: the generation is over. */
        boolean finished();
    }

    /** Thrown when a cursor allows no token: the generation cannot go on inside its grammar. */
    final class DeadEndException extends RuntimeException {
        public DeadEndException(String message) {
            super(message);
        }
    }
}
