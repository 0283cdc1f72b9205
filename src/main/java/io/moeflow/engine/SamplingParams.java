package io.moeflow.engine;

/**
 * How to pick the next token from logits. {@code temperature <= 0} means greedy (argmax). {@code topK <= 0}
 * disables top-k, {@code topP >= 1} disables top-p, {@code minP <= 0} disables min-p. The seed makes sampling
 * reproducible: the same seed, logits and parameters give the same tokens.
 */
public record SamplingParams(float temperature, int topK, float topP, float minP, long seed) {
    public static final SamplingParams GREEDY = new SamplingParams(0f, 0, 1f, 0f, 0L);

    /*
     * The one set of defaults of every surface that samples for a user: the HTTP API and Kafka prompts (a field left
     * out), `moeflow generate` (an option left out) and the playground (an empty field). OpenAI's: the model's own
     * distribution, nothing cut off. `moeflow loadgen` alone defaults to greedy, so that load runs are comparable.
     */
    public static final float DEFAULT_TEMPERATURE = 1.0f;
    public static final int DEFAULT_TOP_K = 0;
    public static final float DEFAULT_TOP_P = 1.0f;
    public static final float DEFAULT_MIN_P = 0.0f;

    public SamplingParams {
        if (Float.isNaN(temperature) || temperature < 0) throw new IllegalArgumentException("temperature must be >= 0, got " + temperature);
        if (Float.isNaN(topP) || topP <= 0 || topP > 1) throw new IllegalArgumentException("top_p must be in (0, 1], got " + topP);
        if (Float.isNaN(minP) || minP < 0 || minP > 1) throw new IllegalArgumentException("min_p must be in [0, 1], got " + minP);
        if (topK < 0) throw new IllegalArgumentException("top_k must be >= 0, got " + topK);
    }

    public boolean greedy() {
        return temperature <= 0f || topK == 1;
    }
}
