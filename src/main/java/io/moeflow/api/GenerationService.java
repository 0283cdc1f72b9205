package io.moeflow.api;

import io.moeflow.api.chat.ChatTemplateRenderer;
import io.moeflow.api.chat.jinja.RenderLimits;
import io.moeflow.api.kafka.TokenEventPublisher;
import io.moeflow.api.kafka.TokenEventTail;
import io.moeflow.api.kafka.TokenOrigin;
import io.moeflow.engine.SamplingParams;
import io.moeflow.engine.TokenConstraint;
import io.moeflow.engine.grammar.GrammarConstraint;
import io.moeflow.engine.grammar.TokenTrie;
import io.moeflow.scheduler.FinishReason;
import io.moeflow.scheduler.GenerationEngine;
import io.moeflow.scheduler.GenerationRequest;
import io.moeflow.scheduler.TokenEvent;
import io.moeflow.tokenizer.Tokenizer;
import io.moeflow.tokenizer.Vocabulary;
import io.smallrye.mutiny.Multi;
import io.smallrye.mutiny.Uni;
import jakarta.enterprise.context.ApplicationScoped;
import jakarta.inject.Inject;
import java.time.LocalDateTime;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.AtomicReference;
import org.jboss.logging.Logger;

/**
 * The path shared by HTTP and Kafka: a parsed request is rendered (chat template), tokenized, checked against the
 * context, submitted to the engine, and its events are written to the tokens topic. Every generation ends with
 * exactly one last event (finish_reason set), even when the client goes away or the engine fails.
 */
@ApplicationScoped
public class GenerationService {
    private static final Logger LOG = Logger.getLogger(GenerationService.class);

    /** Where a generation's events go besides the caller. */
    public enum Publish {
        /** Not written to Kafka. */
        NONE,
        /** Written to Kafka without waiting (HTTP requests). */
        ASYNC,
        /** Written to Kafka; the last event reaches the caller only once Kafka acknowledged it (Kafka prompts). */
        CONFIRM_LAST
    }

    /** A running generation. Subscribe to {@code events} once; cancelling the subscription cancels the generation. */
    public record Generation(String id, int promptTokens, Multi<TokenEvent> events) {}

    @Inject
    ModelRuntime runtime;
    @Inject
    MoeflowConfig config;
    @Inject
    TokenEventPublisher publisher;
    @Inject
    TokenEventTail tail;
    @Inject
    ServiceMetrics metrics;

    private volatile ChatTemplateRenderer chatTemplates;
    private static final int CACHED_CONSTRAINTS = 16;
    /** Compiled response formats by key; guards itself and the trie fields. */
    private final java.util.LinkedHashMap<String, TokenConstraint> constraints = new java.util.LinkedHashMap<>(16, 0.75f, true) {
        @Override
        protected boolean removeEldestEntry(java.util.Map.Entry<String, TokenConstraint> eldest) {
            return size() > CACHED_CONSTRAINTS;
        }
    };
    private TokenTrie vocabularyTrie;
    private Tokenizer trieTokenizer;
    private final Object slotFreed = new Object();
    private final AtomicInteger running = new AtomicInteger();
    private final AtomicLong completed = new AtomicLong();
    /** Set once at shutdown (see GracefulShutdown): no new generations start. */
    private volatile boolean draining;

    public RequestParser parser() {
        return new RequestParser(config.limits().maxPromptChars(), config.limits().maxStopStrings(), config.limits().maxChoices());
    }

    /** Throws ServiceUnavailableException unless the model is loaded. */
    public GenerationEngine engine() {
        if (draining) throw new ServiceUnavailableException("shutting down");
        ModelRuntime.State state = runtime.state();
        if (state == ModelRuntime.State.READY) {
            metrics.engineReady();
            return runtime.engine();
        }
        if (state == ModelRuntime.State.FAILED) {
            throw new ServiceUnavailableException("the model failed to load: " + runtime.failure().orElse("unknown error"));
        }
        throw new ServiceUnavailableException("Loading model");
    }

    /**
     * Renders and tokenizes {@code spec} into an engine request. {@code defaultSeed} is used when the request
     * gives none. Throws InvalidRequestException for a prompt that is empty after rendering or does not fit the
     * context.
     */
    public GenerationRequest prepare(String id, PromptSpec spec, long defaultSeed) {
        // As llama-server: the rendered prompt has lost its leading BOS text when the tokenizer adds BOS itself.
        return request(id, spec, spec.chat() ? renderChat(spec) : spec.prompt(), defaultSeed);
    }

    /**
     * Like {@link #prepare} for a prompt already rendered ({@code text}, a chat request's rendered messages): the
     * chat adapters read the rendered prompt themselves (api.chat.reply).
     */
    public GenerationRequest prepareRendered(String id, PromptSpec spec, String text, long defaultSeed) {
        return request(id, spec, text, defaultSeed);
    }

    private GenerationRequest request(String id, PromptSpec spec, String text, long defaultSeed) {
        int[] tokens = runtime.encode(text, true, true);
        String field = spec.chat() ? "messages" : "prompt";
        if (tokens.length == 0) throw new InvalidRequestException(field, field + " is empty after tokenization");
        int context = runtime.contextLength();
        if (tokens.length >= context) {
            throw new InvalidRequestException(field, field + " has " + tokens.length
                    + " tokens, which leaves no room in the context of " + context + " tokens");
        }
        int maxTokens = spec.maxTokens() != null ? spec.maxTokens() : config.limits().defaultMaxTokens();
        maxTokens = Math.min(maxTokens, context - tokens.length);
        SamplingParams sampling = new SamplingParams(
                spec.temperature() != null ? spec.temperature() : SamplingParams.DEFAULT_TEMPERATURE,
                spec.topK() != null ? spec.topK() : SamplingParams.DEFAULT_TOP_K,
                spec.topP() != null ? spec.topP() : SamplingParams.DEFAULT_TOP_P,
                spec.minP() != null ? spec.minP() : SamplingParams.DEFAULT_MIN_P,
                spec.seed() != null ? spec.seed() : defaultSeed);
        sampling = withOptions(sampling, spec.sampling());
        // End-of-generation tokens stop every request inside the engine (unless ignore_eos); no extra stop tokens.
        GenerationRequest request = new GenerationRequest(id, tokens, sampling, maxTokens, spec.stop(), null, spec.ignoreEos());
        return spec.responseFormat().constrained() ? request.withConstraint(constraint(spec.responseFormat())) : request;
    }

    /**
     * The constraint of a response format over the served vocabulary. Requests with the same format share one
     * (its token masks are cached per grammar state), up to {@value #CACHED_CONSTRAINTS} formats, least recently
     * used dropped first.
     */
    public TokenConstraint constraint(ResponseFormat format) {
        Tokenizer tokenizer = runtime.tokenizer();
        TokenTrie trie;
        synchronized (constraints) {
            if (vocabularyTrie == null || trieTokenizer != tokenizer) {
                vocabularyTrie = TokenTrie.of(tokenizer);
                trieTokenizer = tokenizer;
                constraints.clear();
            }
            trie = vocabularyTrie;
            TokenConstraint known = constraints.get(format.key());
            if (known != null) return known;
        }
        TokenConstraint built = GrammarConstraint.of(format.grammar(), trie);
        synchronized (constraints) {
            if (vocabularyTrie == trie) constraints.putIfAbsent(format.key(), built);
        }
        return built;
    }

    /**
     * The requests of the {@code n} choices of {@code spec} ({@link #prepare} for choice 0): choice {@code i} has the
     * id {@code id} for 0, {@code id + "." + i} after, and samples with the seed {@code seed + i} (the request's seed,
     * or {@code defaultSeed}), so choice i of seed s is what a one-choice request with seed s + i generates. The
     * prompt is rendered and tokenized once.
     */
    public java.util.List<GenerationRequest> prepareChoices(String id, PromptSpec spec, long defaultSeed) {
        return choices(id, spec, prepare(id, spec, defaultSeed));
    }

    /** The requests of the n choices of {@code spec} whose choice 0 is {@code first} (see {@link #prepareChoices}). */
    public java.util.List<GenerationRequest> choices(String id, PromptSpec spec, GenerationRequest first) {
        java.util.List<GenerationRequest> choices = new java.util.ArrayList<>(spec.sampling().n());
        choices.add(first);
        for (int i = 1; i < spec.sampling().n(); i++) {
            choices.add(new GenerationRequest(choiceId(id, i), first.promptTokens(), first.sampling().withSeed(first.sampling().seed() + i),
                    first.maxTokens(), first.stopStrings(), first.stopTokens(), first.ignoreEos(), null, first.constraint()));
        }
        return choices;
    }

    /** The engine request id of choice {@code index} of request {@code id}. */
    public static String choiceId(String id, int index) {
        return index == 0 ? id : id + "." + index;
    }

    /** The penalties, logit bias and log-probabilities of {@code options} on {@code base}; ids outside the vocabulary are a 400. */
    private SamplingParams withOptions(SamplingParams base, SamplingOptions options) {
        int vocab = runtime.tokenizer().vocabSize();
        for (int token : options.logitBias().keySet()) {
            if (token >= vocab) {
                throw new InvalidRequestException("logit_bias", "logit_bias names token " + token
                        + ", outside the vocabulary (ids 0.." + (vocab - 1) + ")");
            }
        }
        return base.withPenalties(
                        options.presencePenalty() != null ? options.presencePenalty() : 0f,
                        options.frequencyPenalty() != null ? options.frequencyPenalty() : 0f,
                        options.repeatPenalty() != null ? options.repeatPenalty() : 1f,
                        options.repeatLastN() != null ? options.repeatLastN() : SamplingParams.DEFAULT_REPEAT_LAST_N)
                .withLogitBias(io.moeflow.engine.LogitBias.of(options.logitBias()))
                .withLogprobs(options.logprobs() != null ? options.logprobs() : -1);
    }

    /** The prompt text of a chat request: the model's chat template applied as llama-server applies it. */
    public String renderChat(PromptSpec spec) {
        return chatTemplates().render(runtime.chatTemplate().orElse(null), spec.messages(), spec.chatOptions(), chatTokens());
    }

    private ChatTemplateRenderer chatTemplates() {
        ChatTemplateRenderer r = chatTemplates;
        if (r == null) {
            MoeflowConfig.Chat c = config.chat();
            r = new ChatTemplateRenderer(new RenderLimits(c.renderTimeout(), c.maxRenderedChars(), c.maxTemplateItems(),
                    c.maxTemplateDepth()), LocalDateTime::now);
            chatTemplates = r;
        }
        return r;
    }

    private ChatTemplateRenderer.Tokens chatTokens() {
        Vocabulary v = runtime.tokenizer().vocabulary();
        return new ChatTemplateRenderer.Tokens(runtime.bosText(), runtime.eosText(), v.addBos(), v.addEos());
    }

    /**
     * Submits {@code request}. Throws QueueFullException when the engine's queue is full, IllegalArgumentException
     * when the engine refuses the request.
     */
    public Generation start(GenerationRequest request, Publish publish) {
        return start(request, publish, TokenOrigin.NONE);
    }

    /** Like {@link #start(GenerationRequest, Publish)}, its events written with the headers of {@code origin}. */
    public Generation start(GenerationRequest request, Publish publish, TokenOrigin origin) {
        GenerationEngine engine = engine();
        long submitted = System.nanoTime();
        return track(engine.submit(request), request, publish, origin, "", submitted);
    }

    /**
     * Like {@link #start} but waits (blocking the calling thread) until the engine has room. {@code publishedText}
     * is the text of the events already published for a resumed request (the start of the last event's full_text).
     */
    public Generation startWhenFree(GenerationRequest request, Publish publish, TokenOrigin origin, String publishedText)
            throws InterruptedException {
        GenerationEngine engine = engine();
        long submitted = System.nanoTime(); // waiting for room counts towards the time to first token
        while (true) {
            try {
                return track(engine.submit(request), request, publish, origin, publishedText, submitted);
            } catch (GenerationEngine.QueueFullException full) {
                if (draining) throw new ServiceUnavailableException("shutting down");
                synchronized (slotFreed) {
                    // Woken when any generation ends; the timeout covers slots freed by others' cancellation.
                    slotFreed.wait(50);
                }
            }
        }
    }

    /** Refuses new generations from now on (HTTP 503, Kafka prompts left unacknowledged); running ones go on. */
    public void beginDrain() {
        draining = true;
        synchronized (slotFreed) {
            slotFreed.notifyAll();
        }
    }

    public boolean draining() {
        return draining;
    }

    /** Generations submitted through this service and not yet finished. */
    public int running() {
        return running.get();
    }

    public long completed() {
        return completed.get();
    }

    private Generation track(GenerationEngine.Handle handle, GenerationRequest request, Publish publish, TokenOrigin origin,
                             String publishedText, long submitted) {
        running.incrementAndGet();
        int promptTokens = request.promptTokens().length;
        AtomicInteger nextIndex = new AtomicInteger(request.resumeTokens().length);
        AtomicReference<FinishReason> lastSeen = new AtomicReference<>();
        AtomicReference<Throwable> writeFailure = new AtomicReference<>();
        StringBuilder fullText = new StringBuilder(publishedText);
        AtomicBoolean released = new AtomicBoolean();
        // Kafka prompts are the ones whose last event waits for Kafka; HTTP requests publish without waiting.
        ServiceMetrics.RequestClock clock = metrics.clock(
                publish == Publish.CONFIRM_LAST ? ServiceMetrics.Api.KAFKA : ServiceMetrics.Api.HTTP, submitted);
        Runnable release = () -> {
            if (released.compareAndSet(false, true)) {
                clock.ended(lastSeen.get());
                running.decrementAndGet();
                completed.incrementAndGet();
                synchronized (slotFreed) {
                    slotFreed.notifyAll();
                }
            }
        };
        Multi<TokenEvent> events = handle.events()
                // An engine failure still ends the stream with one error event.
                .onFailure().recoverWithItem(failure -> {
                    LOG.errorf(failure, "generation %s failed", ClientText.forLog(request.id()));
                    return errorEvent(request.id(), nextIndex.get(), promptTokens, "internal_error",
                            "generation failed: " + failure.getMessage());
                })
                .onItem().transformToUniAndConcatenate(event -> {
                    Throwable failed = writeFailure.get();
                    // A Kafka prompt with an event that did not reach Kafka stops at once, without a last event:
                    // it is generated again after what Kafka holds (see PromptConsumer), so no index is left out.
                    if (failed != null) return Uni.createFrom().<TokenEvent>failure(failed);
                    nextIndex.set(event.index() + 1);
                    if (event.token() >= 0) clock.token();
                    if (event.text() != null) fullText.append(event.text());
                    if (event.last()) lastSeen.set(event.finish());
                    if (publish == Publish.NONE) {
                        tail.cache().add(event); // this replica's watchers only
                        return Uni.createFrom().item(event);
                    }
                    var written = publisher.publish(event, origin, fullText.toString());
                    if (publish == Publish.CONFIRM_LAST && event.last()) {
                        return Uni.createFrom().completionStage(written).replaceWith(event);
                    }
                    if (publish == Publish.CONFIRM_LAST) {
                        written.exceptionally(failure -> {
                            if (writeFailure.compareAndSet(null, failure)) handle.cancel();
                            return null;
                        });
                    }
                    return Uni.createFrom().item(event);
                })
                .onCancellation().invoke(() -> {
                    handle.cancel();
                    // The engine's own last event goes to nobody after a cancel: write one so watchers see the end.
                    // Never for a Kafka prompt: only shutdown and rebalancing cancel those, and they are generated
                    // again after their published events, which a cancelled event would contradict.
                    if (lastSeen.get() == null && publish != Publish.CONFIRM_LAST) {
                        int index = nextIndex.get();
                        TokenEvent cancelled = new TokenEvent(request.id(), index, -1, "", FinishReason.CANCELLED,
                                new TokenEvent.Usage(promptTokens, index), null, null);
                        if (publish == Publish.NONE) tail.cache().add(cancelled);
                        else publisher.publish(cancelled, origin, fullText.toString());
                    }
                })
                .onTermination().invoke(release);
        return new Generation(request.id(), promptTokens, events);
    }

    /** A last event reporting an error, for requests that fail before or outside the engine. */
    public static TokenEvent errorEvent(String id, int index, int promptTokens, String code, String message) {
        return new TokenEvent(id, index, -1, "", FinishReason.ERROR, new TokenEvent.Usage(promptTokens, index), code, message);
    }
}
