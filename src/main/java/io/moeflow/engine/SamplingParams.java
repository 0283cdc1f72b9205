package io.moeflow.engine;

/**
 * How to pick the next token from logits. {@code temperature <= 0} means greedy (argmax). {@code topK <= 0}
 * disables top-k, {@code topP >= 1} disables top-p, {@code minP <= 0} disables min-p. The seed makes sampling
 * reproducible: the same seed, logits and parameters give the same tokens.
 *
 * <p>Before any of those, the logits are adjusted (see {@link Sampler#adjustLogits}): {@code logitBias} added,
 * then {@code repeatPenalty} (llama.cpp's: a logit of a token among the last {@code repeatLastN} tokens of prompt
 * and generation is divided by it when positive, multiplied when not; 1 is off; {@code repeatLastN} -1 is the whole
 * sequence, 0 off), then {@code frequencyPenalty} times the token's count and {@code presencePenalty} once
 * subtracted for every token already generated (OpenAI's, over generated tokens only, as vLLM). Greedy is the
 * argmax of the adjusted logits. {@code logprobs} >= 0 asks for the sampled token's log-probability and that many
 * alternatives at every step ({@link TokenLogprobs}); -1 for none.
 */
public record SamplingParams(float temperature, int topK, float topP, float minP, long seed,
                             float presencePenalty, float frequencyPenalty, float repeatPenalty, int repeatLastN,
                             LogitBias logitBias, int logprobs) {
    public static final SamplingParams GREEDY = new SamplingParams(0f, 0, 1f, 0f, 0L);

    /** llama.cpp's default window of repeat_penalty. */
    public static final int DEFAULT_REPEAT_LAST_N = 64;
    public static final float MAX_ABS_PENALTY = 2f;
    /** OpenAI's bound of top_logprobs. */
    public static final int MAX_LOGPROBS = 20;

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
        if (!(Math.abs(presencePenalty) <= MAX_ABS_PENALTY)) throw new IllegalArgumentException("presence_penalty must be in [-2, 2], got " + presencePenalty);
        if (!(Math.abs(frequencyPenalty) <= MAX_ABS_PENALTY)) throw new IllegalArgumentException("frequency_penalty must be in [-2, 2], got " + frequencyPenalty);
        if (!(repeatPenalty > 0) || Float.isInfinite(repeatPenalty)) throw new IllegalArgumentException("repeat_penalty must be > 0, got " + repeatPenalty);
        if (repeatLastN < -1) throw new IllegalArgumentException("repeat_last_n must be >= -1, got " + repeatLastN);
        if (logprobs < -1 || logprobs > MAX_LOGPROBS) throw new IllegalArgumentException("logprobs must be in [-1, 20], got " + logprobs);
        if (logitBias == null) logitBias = LogitBias.NONE;
    }

    /** No penalties, no bias, no log-probabilities. */
    public SamplingParams(float temperature, int topK, float topP, float minP, long seed) {
        this(temperature, topK, topP, minP, seed, 0f, 0f, 1f, DEFAULT_REPEAT_LAST_N, LogitBias.NONE, -1);
    }

    public SamplingParams withSeed(long newSeed) {
        return new SamplingParams(temperature, topK, topP, minP, newSeed, presencePenalty, frequencyPenalty, repeatPenalty,
                repeatLastN, logitBias, logprobs);
    }

    public SamplingParams withPenalties(float presence, float frequency, float repeat, int lastN) {
        return new SamplingParams(temperature, topK, topP, minP, seed, presence, frequency, repeat, lastN, logitBias, logprobs);
    }

    public SamplingParams withLogitBias(LogitBias bias) {
        return new SamplingParams(temperature, topK, topP, minP, seed, presencePenalty, frequencyPenalty, repeatPenalty,
                repeatLastN, bias, logprobs);
    }

    public SamplingParams withLogprobs(int count) {
        return new SamplingParams(temperature, topK, topP, minP, seed, presencePenalty, frequencyPenalty, repeatPenalty,
                repeatLastN, logitBias, count);
    }

    /** Presence or frequency penalty on: the generated tokens are counted. */
    public boolean penalizesGenerated() {
        return presencePenalty != 0f || frequencyPenalty != 0f;
    }

    /** repeat_penalty on: the last repeatLastN tokens are counted. */
    public boolean penalizesRecent() {
        return repeatPenalty != 1f && repeatLastN != 0;
    }

    /** Anything changes the logits before sampling. */
    public boolean adjustsLogits() {
        return penalizesGenerated() || penalizesRecent() || !logitBias.isEmpty();
    }

    public boolean greedy() {
        return temperature <= 0f || topK == 1;
    }
}
