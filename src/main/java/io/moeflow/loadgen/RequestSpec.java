package io.moeflow.loadgen;

/** What every request of a load run asks for: a completion of {@code prompt}, at most {@code maxTokens} tokens. */
public record RequestSpec(String prompt, int maxTokens, double temperature) {
    public RequestSpec {
        if (prompt == null || prompt.isEmpty()) throw new IllegalArgumentException("the prompt is empty");
        if (maxTokens < 1) throw new IllegalArgumentException("max tokens must be >= 1, got " + maxTokens);
        if (!(temperature >= 0)) throw new IllegalArgumentException("temperature must be >= 0, got " + temperature);
    }

    public RequestSpec withPrompt(String newPrompt) {
        return new RequestSpec(newPrompt, maxTokens, temperature);
    }

    public RequestSpec withMaxTokens(int newMaxTokens) {
        return new RequestSpec(prompt, newMaxTokens, temperature);
    }
}
