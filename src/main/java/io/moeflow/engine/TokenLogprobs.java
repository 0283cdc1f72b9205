package io.moeflow.engine;

/**
 * The log-probability of a sampled token and of the most likely tokens at its position, under the model's own
 * distribution: log-softmax of the raw logits, before the logit bias, the penalties, temperature and any
 * truncation (vLLM's default "raw_logprobs"; see {@link Sampler#logprobs}). {@code topTokens} are the
 * {@code topTokens.length} largest logits, largest first, ties to the lower id. -infinity for a token the model
 * gives no chance.
 */
public record TokenLogprobs(int token, double logprob, int[] topTokens, double[] topLogprobs) {
    public TokenLogprobs {
        if (topTokens.length != topLogprobs.length) throw new IllegalArgumentException("top tokens and log-probabilities differ in length");
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof TokenLogprobs t && token == t.token && Double.compare(logprob, t.logprob) == 0
                && java.util.Arrays.equals(topTokens, t.topTokens) && java.util.Arrays.equals(topLogprobs, t.topLogprobs);
    }

    @Override
    public int hashCode() {
        return 31 * (31 * Integer.hashCode(token) + Double.hashCode(logprob)) + java.util.Arrays.hashCode(topTokens);
    }

    @Override
    public String toString() {
        return "TokenLogprobs[token=" + token + ", logprob=" + logprob + ", top=" + java.util.Arrays.toString(topTokens)
                + " " + java.util.Arrays.toString(topLogprobs) + "]";
    }
}
