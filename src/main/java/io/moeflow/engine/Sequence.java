package io.moeflow.engine;

import io.moeflow.scheduler.FinishReason;
import io.moeflow.scheduler.GenerationRequest;
import java.util.Arrays;
import java.util.SplittableRandom;

/**
 * The state of one generation: its tokens (prompt then generated; token {@code i} sits at position {@code i}),
 * how many of them are already in the KV cache, its sampler state and its stop conditions.
 *
 * <p>The tokens not yet in the cache ({@link #pending()}) are what the next steps feed: the whole prompt
 * (possibly in chunks) at first, then the one token sampled last. Logits are wanted once the last pending
 * token is fed; they give the next token. After a preemption ({@link #dropKv}) everything is pending again and
 * is recomputed the same way, with the generator state kept, so the output is unchanged. With prefix caching the
 * scheduler marks the leading tokens whose KV it shares from the cache as processed when it attaches the KV
 * ({@link #advance}): they are never fed. A request resumed
 * after published tokens ({@link GenerationRequest#resumeTokens()}) starts in that state: its published tokens
 * are generated ones, replayed through the text stream and stop strings (their deltas were published already),
 * the generator is advanced past their draws, and all of them are pending.
 *
 * <p>Stop handling in {@link #accept}: a stop token (the tokenizer's end-of-generation tokens unless
 * {@code ignoreEos}, plus the request's stop tokens) or a stop string in the text → STOP (neither appears in
 * the text); {@code maxTokens} generated → LENGTH; a token that would sit at a position outside the context
 * (it cannot be fed) → LENGTH. The step loop owns a sequence; not thread-safe.
 *
 * <p>With a {@link TokenConstraint} ({@link GenerationRequest#constraint()}), {@link #sample} first masks the
 * logits to the tokens the constraint allows (a {@link TokenConstraint.DeadEndException} when there is none), and
 * every token (resumed ones too) advances the constraint. An end-of-generation token the constraint allows stops
 * the generation even with {@code ignoreEos}, and a constraint that is finished (nothing more can follow) stops it
 * at once → STOP.
 */
public final class Sequence {
    private final String requestId;
    private final int promptLength;
    private final int contextLength;
    private final int maxTokens;
    private final boolean ignoreEos;
    private final int[] stopTokens;
    private final SamplingParams sampling;
    private final SplittableRandom random;
    private final Detokenizer detokenizer;
    private final io.moeflow.tokenizer.TextStream text;
    private final StopStrings stops;
    /** The request's constraint state, null when sampling is free. */
    private final TokenConstraint.Cursor constraint;

    private int[] tokens;
    private int length;
    private int processed;
    private int kvSeq = -1;
    private FinishReason finish;
    private String delta = "";
    /** Generated tokens by id, for presence/frequency penalties (null when they are off). */
    private final TokenCounts generatedCounts;
    /** The last repeat_last_n tokens (prompt included) by id, for repeat_penalty (null when it is off). */
    private final TokenCounts recentCounts;
    private TokenLogprobs lastLogprobs;
    private boolean endedByStopToken;

    public Sequence(GenerationRequest request, Detokenizer detokenizer, int contextLength) {
        this.requestId = request.id();
        this.promptLength = request.promptTokens().length;
        if (promptLength > contextLength) {
            throw new IllegalArgumentException("prompt of request " + request.id() + " has " + promptLength
                    + " tokens, more than the model's context length " + contextLength);
        }
        this.contextLength = contextLength;
        this.maxTokens = request.maxTokens();
        this.ignoreEos = request.ignoreEos();
        this.stopTokens = request.stopTokens().clone();
        Arrays.sort(stopTokens);
        this.sampling = request.sampling();
        this.random = Sampler.newRandom(sampling);
        this.detokenizer = detokenizer;
        this.text = detokenizer.newStream();
        this.stops = new StopStrings(request.stopStrings());
        this.constraint = request.constraint() == null ? null : request.constraint().start();
        // room for a typical generation; longer ones grow the array
        this.tokens = Arrays.copyOf(request.promptTokens(), promptLength + (maxTokens > 0 ? Math.min(maxTokens, 256) : 64));
        this.length = promptLength;
        this.generatedCounts = sampling.penalizesGenerated() ? new TokenCounts() : null;
        this.recentCounts = sampling.penalizesRecent() ? new TokenCounts() : null;
        if (recentCounts != null) {
            int window = sampling.repeatLastN() < 0 ? promptLength : Math.min(promptLength, sampling.repeatLastN());
            for (int i = promptLength - window; i < promptLength; i++) recentCounts.add(tokens[i]);
        }
        int[] resumed = request.resumeTokens();
        for (int i = 0; i < resumed.length; i++) {
            append(resumed[i]);
            if (finish != null) {
                throw new IllegalArgumentException("request " + requestId + ": published token " + i + " of "
                        + resumed.length + " already ends the generation (" + finish.wire() + "), so it cannot be resumed");
            }
        }
        Sampler.skipDraws(random, sampling, resumed.length);
        delta = "";
    }

    public String requestId() { return requestId; }

    public int promptLength() { return promptLength; }

    /** Prompt plus generated tokens. */
    public int length() { return length; }

    public int generated() { return length - promptLength; }

    /** Tokens whose keys and values are in the KV cache (a prefix of the tokens). */
    public int processed() { return processed; }

    /** Tokens still to feed before the next token can be sampled. */
    public int pending() { return length - processed; }

    /** True when the only pending token is the last generated one. */
    public boolean decoding() { return pending() == 1 && generated() > 0; }

    public int token(int index) { return tokens[index]; }

    public int kvSeq() { return kvSeq; }

    public SamplingParams sampling() { return sampling; }

    /** Non-null once the sequence has finished. */
    public FinishReason finish() { return finish; }

    /** The text delta of the last accepted token (never null). */
    public String delta() { return delta; }

    public void attachKv(int seq) {
        kvSeq = seq;
    }

    /** Records that {@code n} more pending tokens were fed. */
    public void advance(int n) {
        if (n < 0 || n > pending()) throw new IllegalArgumentException("cannot advance " + n + " of " + pending() + " pending tokens");
        processed += n;
    }

    /** Forgets the KV cache (its blocks were returned): all tokens are pending again. */
    public void dropKv() {
        kvSeq = -1;
        processed = 0;
    }

    /**
     * Samples the next token from a row of logits with this sequence's parameters and generator: logit bias and
     * penalties first ({@link Sampler#adjustLogits}; the row is given back unchanged), then the sampler's chain, then
     * the log-probabilities when asked for (of the row as the model gave it).
     */
    public int sample(Sampler sampler, float[] logits, int offset) {
        // The grammar first: a masked token stays -inf whatever bias or penalty follows.
        if (constraint != null && constraint.mask(logits, offset, sampler.vocabSize()) == 0) {
            throw new TokenConstraint.DeadEndException("request " + requestId + ": no token of the vocabulary can continue"
                    + " the output inside its grammar (after " + generated() + " generated tokens)");
        }
        int token;
        if (sampling.adjustsLogits()) {
            sampler.adjustLogits(logits, offset, sampling, generatedCounts, recentCounts);
            try {
                token = sampler.sample(logits, offset, sampling, random);
            } finally {
                sampler.restoreLogits(logits, offset);
            }
        } else {
            token = sampler.sample(logits, offset, sampling, random);
        }
        lastLogprobs = sampling.logprobs() >= 0
                ? Sampler.logprobs(logits, offset, sampler.vocabSize(), token, sampling.logprobs()) : null;
        return token;
    }

    /**
     * The log-probabilities of the last accepted token (null unless asked for, and for a stop token, which is not
     * part of the answer).
     */
    public TokenLogprobs logprobs() {
        return endedByStopToken ? null : lastLogprobs;
    }

    /** Appends a sampled token, sets {@link #delta()} and, when it ends the generation, {@link #finish()}. */
    public void accept(int token) {
        if (finish != null) throw new IllegalStateException("request " + requestId + " already finished");
        if (pending() != 0) throw new IllegalStateException("request " + requestId + " sampled before its tokens were fed");
        append(token);
    }

    private void append(int token) {
        if (length == tokens.length) tokens = Arrays.copyOf(tokens, tokens.length * 2);
        tokens[length++] = token;
        if (constraint != null) constraint.accept(token);
        if (generatedCounts != null) generatedCounts.add(token);
        if (recentCounts != null) {
            recentCounts.add(token);
            int n = sampling.repeatLastN();
            if (n > 0 && length > n) recentCounts.remove(tokens[length - 1 - n]);
        }
        // under a grammar, any end-of-generation token ends it (the grammar allows them only once complete)
        if (isStopToken(token) || (constraint != null && detokenizer.isEndOfGeneration(token))) {
            endedByStopToken = true;
            end(FinishReason.STOP);
            return;
        }
        delta = stops.push(text.push(token));
        if (stops.stopped()) {
            finish = FinishReason.STOP;
        } else if (constraintFinished() || (maxTokens > 0 && generated() >= maxTokens) || length > contextLength) {
            String rest = stops.push(text.flush());
            delta = delta + (stops.stopped() ? rest : rest + stops.flush());
            finish = stops.stopped() || constraintFinished() ? FinishReason.STOP : FinishReason.LENGTH;
        }
    }

    /** Ends the generation for a reason from outside (cancel, error, no KV memory); the final delta is what was held back. */
    public void end(FinishReason reason) {
        if (finish != null) throw new IllegalStateException("request " + requestId + " already finished");
        String rest = stops.push(text.flush());
        delta = stops.stopped() ? rest : rest + stops.flush();
        finish = reason;
    }

    private boolean constraintFinished() {
        return constraint != null && constraint.finished();
    }

    private boolean isStopToken(int token) {
        return (!ignoreEos && detokenizer.isEndOfGeneration(token)) || Arrays.binarySearch(stopTokens, token) >= 0;
    }
}
