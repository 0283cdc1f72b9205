package io.moeflow.tokenizer;

/**
 * Incremental detokenization of a growing id sequence: each push returns the text that became complete,
 * holding back the bytes of a UTF-8 character split across tokens until its last byte arrives.
 * Not thread-safe: one stream per generation.
 */
public interface TextStream {
    /** Adds a token; returns the newly completed text (possibly empty). */
    String push(int id);

    /** Ends the stream: returns what is still held back, incomplete sequences as U+FFFD. */
    String flush();
}
