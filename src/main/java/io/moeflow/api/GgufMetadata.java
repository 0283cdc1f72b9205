package io.moeflow.api;

import io.moeflow.gguf.GgufFile;
import io.moeflow.tokenizer.Vocabulary;

/** The tokenizer's view of a GGUF file's metadata: absent keys are null. */
final class GgufMetadata implements Vocabulary.Metadata {
    private final GgufFile file;

    GgufMetadata(GgufFile file) {
        this.file = file;
    }

    @Override
    public String string(String key) {
        return file.has(key) ? file.getString(key) : null;
    }

    @Override
    public Long integer(String key) {
        return file.has(key) ? file.getLong(key) : null;
    }

    @Override
    public Boolean bool(String key) {
        return file.has(key) ? file.getBool(key, false) : null;
    }

    @Override
    public String[] stringArray(String key) {
        return file.getStringArray(key);
    }

    @Override
    public float[] floatArray(String key) {
        return file.getFloatArray(key);
    }

    @Override
    public int[] intArray(String key) {
        return file.getIntArray(key);
    }
}
