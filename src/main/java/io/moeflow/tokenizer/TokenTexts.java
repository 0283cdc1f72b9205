package io.moeflow.tokenizer;

/** Token texts as llama.cpp keeps them: an empty token becomes "[EMPTY_id]" so every id has a distinct text. */
final class TokenTexts {
    private TokenTexts() {}

    static String[] of(String[] tokens) {
        String[] texts = new String[tokens.length];
        for (int i = 0; i < tokens.length; i++) {
            String t = tokens[i];
            texts[i] = t == null || t.isEmpty() ? "[EMPTY_" + i + "]" : t;
        }
        return texts;
    }
}
