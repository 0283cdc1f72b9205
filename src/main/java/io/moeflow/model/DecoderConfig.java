package io.moeflow.model;

import io.moeflow.gguf.GgufFile;

/**
 * Hyper-parameters of a decoder-only transformer, read from GGUF metadata keys {@code <arch>.*} as llama.cpp
 * names them. Head dimensions default to {@code n_embd / n_head}; the vocabulary size falls back to the
 * token embedding's row count (llama2.c conversions store no {@code vocab_size}).
 */
public record DecoderConfig(String arch, int vocabSize, int contextLength, int embeddingLength, int layers,
                            int heads, int kvHeads, int keyLength, int valueLength, int ropeDims,
                            float ropeBase, float ropeScale, boolean ropeNeox, float rmsEps,
                            int ffnLength, int expertCount, int expertUsedCount, int expertFfnLength) {

    public static DecoderConfig read(GgufFile f, boolean ropeNeox) {
        String a = f.architecture();
        int embd = f.getInt(a + ".embedding_length");
        int heads = f.getInt(a + ".attention.head_count");
        int kvHeads = f.getInt(a + ".attention.head_count_kv", heads);
        int keyLength = f.getInt(a + ".attention.key_length", embd / heads);
        int valueLength = f.getInt(a + ".attention.value_length", keyLength);
        int vocab = f.getInt(a + ".vocab_size", (int) f.tensor("token_embd.weight").ne()[1]);
        float ropeScale = 1f;
        String scaling = f.getString(a + ".rope.scaling.type", "none");
        if (scaling.equals("linear")) ropeScale = 1f / f.getFloat(a + ".rope.scaling.factor", 1f);
        else if (!scaling.equals("none"))
            throw new IllegalArgumentException(a + ": rope scaling '" + scaling + "' is not supported (supported: none, linear)");
        int nExpert = f.getInt(a + ".expert_count", 0);
        int ffn = f.getInt(a + ".feed_forward_length", 0);
        return new DecoderConfig(a, vocab, f.getInt(a + ".context_length", 2048), embd,
                f.getInt(a + ".block_count"), heads, kvHeads, keyLength, valueLength,
                f.getInt(a + ".rope.dimension_count", keyLength), f.getFloat(a + ".rope.freq_base", 10000f), ropeScale,
                ropeNeox, f.getFloat(a + ".attention.layer_norm_rms_epsilon", 1e-5f), ffn, nExpert,
                f.getInt(a + ".expert_used_count", 0), f.getInt(a + ".expert_feed_forward_length", ffn));
    }

    public int qDim() { return heads * keyLength; }

    public int kvDim() { return kvHeads * keyLength; }

    public int vDim() { return kvHeads * valueLength; }
}
