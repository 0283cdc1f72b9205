package io.moeflow.engine;

import java.util.Arrays;
import java.util.Map;
import java.util.TreeMap;

/**
 * Values added to the logits of some token ids before anything else of the chain (OpenAI's {@code logit_bias}):
 * ids ascending, each once, each bias in [-100, 100]. -100 makes a token practically undrawable (its weight is
 * e^-100 of what it was, below float precision next to any ordinary token) and +100 practically forces it; neither
 * is a hard mask, as in OpenAI and llama.cpp.
 */
public record LogitBias(int[] tokens, float[] biases) {
    public static final float MAX_ABS_BIAS = 100f;
    public static final LogitBias NONE = new LogitBias(new int[0], new float[0]);

    public LogitBias {
        if (tokens.length != biases.length) throw new IllegalArgumentException("logit_bias: " + tokens.length + " ids, " + biases.length + " values");
        for (int i = 0; i < tokens.length; i++) {
            if (tokens[i] < 0) throw new IllegalArgumentException("logit_bias: token id " + tokens[i] + " is negative");
            if (i > 0 && tokens[i] <= tokens[i - 1]) throw new IllegalArgumentException("logit_bias: token ids must be ascending and distinct");
            float b = biases[i];
            if (!(b >= -MAX_ABS_BIAS && b <= MAX_ABS_BIAS)) {
                throw new IllegalArgumentException("logit_bias: the bias of token " + tokens[i] + " must be in [-100, 100], got " + b);
            }
        }
    }

    /** From an id → bias map (any order). */
    public static LogitBias of(Map<Integer, Float> bias) {
        if (bias.isEmpty()) return NONE;
        TreeMap<Integer, Float> sorted = new TreeMap<>(bias);
        int[] ids = new int[sorted.size()];
        float[] values = new float[sorted.size()];
        int i = 0;
        for (Map.Entry<Integer, Float> e : sorted.entrySet()) {
            ids[i] = e.getKey();
            values[i++] = e.getValue();
        }
        return new LogitBias(ids, values);
    }

    public boolean isEmpty() {
        return tokens.length == 0;
    }

    /** The largest token id, -1 when empty. */
    public int maxToken() {
        return tokens.length == 0 ? -1 : tokens[tokens.length - 1];
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof LogitBias b && Arrays.equals(tokens, b.tokens) && Arrays.equals(biases, b.biases);
    }

    @Override
    public int hashCode() {
        return 31 * Arrays.hashCode(tokens) + Arrays.hashCode(biases);
    }

    @Override
    public String toString() {
        StringBuilder s = new StringBuilder("{");
        for (int i = 0; i < tokens.length; i++) s.append(i == 0 ? "" : ", ").append(tokens[i]).append('=').append(biases[i]);
        return s.append('}').toString();
    }
}
