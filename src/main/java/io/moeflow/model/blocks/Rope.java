package io.moeflow.model.blocks;

/**
 * Rotary position embedding over the first {@code dims} values of each head. The normal layout rotates
 * adjacent pairs {@code (2i, 2i+1)} (llama, deepseek2); NeoX rotates {@code (i, i + dims/2)} (qwen, gpt-oss).
 * Angles follow ggml's rope: {@code theta_i = pos * base^(-2i/dims)}, computed by repeated multiplication in
 * float, optionally divided by per-dimension frequency factors ({@code rope_freqs.weight}, llama 3), then
 * scaled by {@code freqScale} (linear scaling) or blended per dimension between interpolation and
 * extrapolation (YaRN, ggml's {@code rope_yarn}), with cos/sin multiplied by the YaRN magnitude factor.
 */
public final class Rope {
    /**
     * YaRN parameters as ggml's {@code ggml_rope_ext} takes them (llama.cpp's context values): {@code extFactor}
     * 0 disables YaRN; {@code attnFactor} multiplies cos/sin; {@code betaFast}/{@code betaSlow} pick the
     * correction range; {@code origContext} is the training context the scaling extends.
     */
    public record Yarn(float extFactor, float attnFactor, float betaFast, float betaSlow, int origContext) {
        public static final Yarn NONE = new Yarn(0f, 1f, 32f, 1f, 0);
    }

    private final int dims;
    private final float base, freqScale;
    private final boolean neox;
    private final float[] freqFactors;
    private final float extFactor, mscale, corrLow, corrHigh;

    public Rope(int dims, float base, float freqScale, boolean neox, float[] freqFactors) {
        this(dims, base, freqScale, neox, freqFactors, Yarn.NONE);
    }

    public Rope(int dims, float base, float freqScale, boolean neox, float[] freqFactors, Yarn yarn) {
        if (dims % 2 != 0) throw new IllegalArgumentException("rope dimension count " + dims + " is odd");
        this.dims = dims;
        this.base = base;
        this.freqScale = freqScale;
        this.neox = neox;
        this.freqFactors = freqFactors;
        this.extFactor = yarn.extFactor();
        // ggml folds the interpolation magnitude into attn_factor only when YaRN is active.
        this.mscale = extFactor != 0f ? yarn.attnFactor() * (1f + 0.1f * (float) Math.log(1f / freqScale)) : yarn.attnFactor();
        if (extFactor != 0f) {
            int ctx = yarn.origContext();
            corrLow = Math.max(0f, (float) Math.floor(corrDim(dims, ctx, yarn.betaFast(), base)));
            corrHigh = Math.min(dims - 1f, (float) Math.ceil(corrDim(dims, ctx, yarn.betaSlow(), base)));
        } else {
            corrLow = corrHigh = 0f;
        }
    }

    /** ggml_rope_yarn_corr_dim: the dimension whose wavelength spans {@code nRot} turns over the original context. */
    private static float corrDim(int dims, int origContext, float nRot, float base) {
        return dims * (float) Math.log(origContext / (nRot * 2f * (float) Math.PI)) / (2f * (float) Math.log(base));
    }

    /** Rotates {@code nHeads} heads of length {@code headDim} starting at {@code off}, in place, for position {@code pos}. */
    public void apply(float[] v, int off, int nHeads, int headDim, int pos) {
        float thetaScale = (float) Math.pow(base, -2.0 / dims);
        float theta = pos;
        int half = dims / 2;
        for (int i = 0; i < half; i++) {
            float extrap = freqFactors == null ? theta : theta / freqFactors[i];
            float t = freqScale * extrap;
            if (extFactor != 0f) {
                float ramp = ramp(2 * i) * extFactor;
                t = t * (1 - ramp) + extrap * ramp;
            }
            float c = (float) Math.cos(t) * mscale, s = (float) Math.sin(t) * mscale;
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

    /** ggml's rope_yarn_ramp: 1 below the correction range (extrapolate), 0 above it (interpolate). */
    private float ramp(int i0) {
        float y = (i0 / 2 - corrLow) / Math.max(0.001f, corrHigh - corrLow);
        return 1 - Math.min(1, Math.max(0, y));
    }
}
