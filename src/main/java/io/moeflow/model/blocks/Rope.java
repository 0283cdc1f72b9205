package io.moeflow.model.blocks;

/**
 * Rotary position embedding over the first {@code dims} values of each head. The normal layout rotates
 * adjacent pairs {@code (2i, 2i+1)} (llama, deepseek2); NeoX rotates {@code (i, i + dims/2)} (qwen, gpt-oss).
 * Angles follow ggml: {@code theta_i = pos * scale * base^(-2i/dims)}, computed by repeated multiplication in
 * float, optionally divided by per-dimension frequency factors ({@code rope_freqs.weight}, llama 3).
 */
public final class Rope {
    private final int dims;
    private final float base, scale;
    private final boolean neox;
    private final float[] freqFactors;

    public Rope(int dims, float base, float scale, boolean neox, float[] freqFactors) {
        this.dims = dims;
        this.base = base;
        this.scale = scale;
        this.neox = neox;
        this.freqFactors = freqFactors;
    }

    /** Rotates {@code nHeads} heads of length {@code headDim} starting at {@code off}, in place, for position {@code pos}. */
    public void apply(float[] v, int off, int nHeads, int headDim, int pos) {
        float thetaScale = (float) Math.pow(base, -2.0 / dims);
        float theta = pos * scale;
        int half = dims / 2;
        for (int i = 0; i < half; i++) {
            float t = freqFactors == null ? theta : theta / freqFactors[i];
            float c = (float) Math.cos(t), s = (float) Math.sin(t);
            for (int h = 0; h < nHeads; h++) {
                int a = off + h * headDim + (neox ? i : 2 * i);
                int b = neox ? a + half : a + 1;
                float x0 = v[a], x1 = v[b];
                v[a] = x0 * c - x1 * s;
                v[b] = x0 * s + x1 * c;
            }
            theta *= thetaScale;
        }
    }
}
