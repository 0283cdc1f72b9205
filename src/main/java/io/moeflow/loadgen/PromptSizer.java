package io.moeflow.loadgen;

/**
 * Builds a prompt of a given token count without a tokenizer on the client side: a word repeated, its count
 * corrected from the prompt_tokens the service reports for short (one-token) requests. These requests also warm
 * the service up.
 */
public final class PromptSizer {
    /** The repeated unit: one token in most vocabularies, so counts converge in one or two steps. */
    static final String UNIT = " the";
    private static final int MAX_ATTEMPTS = 5;

    private PromptSizer() {}

    public static String prompt(int units) {
        if (units < 1) throw new IllegalArgumentException("a prompt needs at least one word, got " + units);
        return "Once" + UNIT.repeat(units - 1);
    }

    /** A prompt and the token count the service gave it (-1 when the service reported none). */
    public record Sized(String prompt, int promptTokens) {}

    /**
     * Sends up to a few one-token requests through {@code target}, adjusting the word count until the service
     * counts {@code tokens} prompt tokens (or as close as word steps allow).
     */
    public static Sized size(LoadTarget target, RequestSpec spec, int tokens, String idPrefix) throws InterruptedException {
        if (tokens < 1) throw new IllegalArgumentException("--prompt-tokens must be >= 1, got " + tokens);
        int units = tokens;
        Sized best = null;
        for (int attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
            String prompt = prompt(units);
            RequestTrace t = target.send(idPrefix + "-size-" + attempt, spec.withPrompt(prompt).withMaxTokens(1));
            if (!t.ok()) throw new IllegalStateException("warm-up request via " + target.via() + " failed: " + t.error());
            int got = t.promptTokens();
            if (got < 0) return new Sized(prompt, -1);
            if (best == null || Math.abs(got - tokens) < Math.abs(best.promptTokens() - tokens)) best = new Sized(prompt, got);
            if (got == tokens) break;
            int next = Math.max(1, (int) Math.round(units * (double) tokens / got));
            if (next == units) next = units + Integer.signum(tokens - got);
            if (next < 1) break;
            units = next;
        }
        return best;
    }
}
