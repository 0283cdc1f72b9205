package io.moeflow.api.http;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.moeflow.api.GenerationService;
import io.moeflow.api.InvalidRequestException;
import io.moeflow.api.ModelRuntime;
import io.moeflow.api.MoeflowConfig;
import io.moeflow.api.OpenAiFields;
import io.moeflow.api.PromptSpec;
import io.moeflow.api.RequestParser;
import io.moeflow.api.chat.reply.AssistantReply;
import io.moeflow.api.chat.reply.ChatReplies;
import io.moeflow.api.chat.reply.ChatReply;
import io.moeflow.api.chat.reply.ReplyStream;
import io.moeflow.api.ServiceMetrics;
import io.moeflow.api.kafka.EventsCache;
import io.moeflow.api.kafka.KafkaSetup;
import io.moeflow.api.kafka.TokenEventJson;
import io.moeflow.api.kafka.TokenEventTail;
import io.moeflow.api.kafka.TokenOrigin;
import io.moeflow.scheduler.FinishReason;
import io.moeflow.scheduler.GenerationRequest;
import io.moeflow.scheduler.TokenEvent;
import io.smallrye.mutiny.Multi;
import io.smallrye.mutiny.subscription.Cancellable;
import io.vertx.core.Context;
import io.vertx.core.buffer.Buffer;
import io.vertx.core.http.HttpServerResponse;
import io.vertx.ext.web.Router;
import io.vertx.ext.web.RoutingContext;
import io.vertx.ext.web.handler.BodyHandler;
import jakarta.enterprise.context.ApplicationScoped;
import jakarta.enterprise.event.Observes;
import jakarta.inject.Inject;
import com.fasterxml.jackson.databind.node.ArrayNode;
import java.security.SecureRandom;
import java.util.ArrayList;
import java.util.List;
import java.util.UUID;
import java.util.concurrent.Executor;
import org.jboss.logging.Logger;

/**
 * The HTTP API: OpenAI-compatible POST /v1/completions and /v1/chat/completions (whole answers or Server-Sent
 * Events), GET /v1/models and /v1/models/{id}, GET /v1/requests/{id}/events (SSE of any request's token events, from Kafka), GET
 * /v1/stats (live figures for the playground page at /), llama-server's GET /health, and GET /metrics (the
 * Prometheus metrics of /q/metrics at the usual path). Plain Vert.x routes, because one endpoint answers either
 * JSON or an event stream depending on the body, and a closed connection must cancel the generation at once. Who
 * may call them is {@link AccessControl}; errors are answered by {@link HttpErrors}.
 */
@ApplicationScoped
public class OpenAiRoutes {
    private static final Logger LOG = Logger.getLogger(OpenAiRoutes.class);

    @Inject
    GenerationService service;
    @Inject
    ChatReplies replies;
    @Inject
    ModelRuntime runtime;
    @Inject
    MoeflowConfig config;
    @Inject
    TokenEventTail tail;
    @Inject
    LiveStats liveStats;
    @Inject
    ServiceMetrics metrics;
    @Inject
    HttpErrors errors;
    @Inject
    KafkaSetup kafkaSetup;

    private final SecureRandom seeds = new SecureRandom();

    void register(@Observes Router router) {
        BodyHandler body = BodyHandler.create(false).setBodyLimit(config.limits().maxRequestBytes());
        router.post("/v1/completions").handler(body).handler(ctx -> generate(ctx, false));
        router.post("/v1/chat/completions").handler(body).handler(ctx -> generate(ctx, true));
        router.get("/v1/models").handler(this::models);
        router.get("/v1/models/:id").handler(this::model);
        router.get("/v1/requests/:id/events").handler(this::requestEvents);
        router.get("/v1/stats").handler(this::stats);
        router.get("/v1/stats/experts").handler(this::expertStats);
        router.get("/health").handler(this::health);
        router.get("/metrics").handler(ctx -> ctx.reroute("/q/metrics"));
    }

    private void generate(RoutingContext ctx, boolean chat) {
        String id = (chat ? "chatcmpl-" : "cmpl-") + UUID.randomUUID();
        PromptSpec spec;
        boolean stream;
        boolean includeUsage;
        try {
            Buffer raw = ctx.body().buffer();
            ObjectNode body = RequestParser.parseObject(raw == null ? null : raw.getBytes());
            // every field known and of its type, stream_options an object with stream true (or absent)
            OpenAiFields.checkHttp(body, chat ? OpenAiFields.Endpoint.CHAT : OpenAiFields.Endpoint.COMPLETIONS);
            stream = RequestParser.booleanField(body, "stream");
            JsonNode options = body.get("stream_options");
            includeUsage = options != null && options.isObject() && RequestParser.booleanField((ObjectNode) options, "include_usage");
            RequestParser parser = service.parser();
            spec = chat ? parser.chat(body) : parser.completion(body);
            service.engine(); // 503 while the model loads, before spending time on the prompt
        } catch (RuntimeException e) {
            refuse(ctx, e);
            return;
        }
        long seed = seeds.nextLong();
        boolean logprobs = spec.sampling().logprobs() != null;
        // Rendering and tokenizing a long prompt takes milliseconds: off the event loop.
        ctx.vertx().<ChatReplies.Prepared>executeBlocking(() -> chat ? replies.prepare(id, spec, seed)
                        : new ChatReplies.Prepared(service.prepareChoices(id, spec, seed), null), false)
                .onFailure(e -> refuse(ctx, e))
                .onSuccess(prepared -> {
                    List<GenerationRequest> requests = prepared.requests();
                    ChatReply reply = prepared.reply();
                    List<GenerationService.Generation> generations = new ArrayList<>(requests.size());
                    try {
                        for (GenerationRequest request : requests) {
                            generations.add(service.start(request, config.kafka().publishHttpEvents()
                                    ? GenerationService.Publish.ASYNC : GenerationService.Publish.NONE,
                                    TokenOrigin.http(ctx.request().getHeader("traceparent"))));
                        }
                    } catch (RuntimeException e) {
                        // the choices already started go too: a request is answered whole or not at all
                        for (GenerationService.Generation g : generations) g.events().subscribe().with(x -> {}).cancel();
                        refuse(ctx, e);
                        return;
                    }
                    if (stream) {
                        stream(ctx, chat, generations, includeUsage, logprobs, reply);
                    } else {
                        whole(ctx, chat, generations, logprobs, reply);
                    }
                });
    }

    /**
     * The answer of n choices once all of them ended: choice i is the i-th generation; usage counts every choice. A
     * chat answer's text is read by {@code reply} (message.content, reasoning_content, tool_calls).
     */
    private void whole(RoutingContext ctx, boolean chat, List<GenerationService.Generation> generations, boolean logprobs,
                       ChatReply reply) {
        long created = System.currentTimeMillis() / 1000;
        int n = generations.size();
        StringBuilder[] texts = new StringBuilder[n];
        TokenEvent[] last = new TokenEvent[n];
        LogprobsJson[] probs = new LogprobsJson[n];
        int[] done = {0};
        boolean[] failed = {false};
        List<Cancellable> subscriptions = new ArrayList<>(n);
        for (int c = 0; c < n; c++) {
            int choice = c;
            texts[c] = new StringBuilder();
            probs[c] = logprobs ? new LogprobsJson(chat, runtime.tokenizer()) : null;
            subscriptions.add(onContext(ctx, generations.get(c).events()).subscribe().with(
                    event -> {
                        if (reply != null) texts[choice].append(reply.text(event));
                        else if (event.text() != null) texts[choice].append(event.text());
                        if (probs[choice] != null) probs[choice].add(event);
                        if (event.last()) last[choice] = event;
                    },
                    failure -> {
                        if (failed[0]) return;
                        failed[0] = true;
                        subscriptions.forEach(Cancellable::cancel);
                        sendError(ctx, failure);
                    },
                    () -> {
                        if (++done[0] < n || failed[0]) return;
                        for (TokenEvent end : last) {
                            if (end != null && end.finish() == FinishReason.ERROR) {
                                sendJson(ctx, 500, OpenAiJson.error(end.errorMessage(), "server_error", null, end.errorCode()));
                                return;
                            }
                        }
                        ObjectNode root = null;
                        ArrayNode choices = null;
                        int completionTokens = 0;
                        for (int i = 0; i < n; i++) {
                            TokenEvent end = last[i];
                            String reason = end == null ? FinishReason.STOP.wire() : end.finish().wire();
                            ObjectNode answer;
                            if (reply != null) {
                                AssistantReply message = reply.forChoice(i).parse(texts[i].toString());
                                reason = message.finishReason(reason);
                                answer = OpenAiJson.chatResponse(generations.getFirst().id(), created, runtime.modelName(), message,
                                        reason, end == null ? null : end.usage());
                            } else {
                                answer = OpenAiJson.response(chat, generations.getFirst().id(), created, runtime.modelName(),
                                        texts[i].toString(), reason, end == null ? null : end.usage());
                            }
                            ObjectNode choiceNode = (ObjectNode) answer.get("choices").get(0);
                            choiceNode.put("index", i);
                            if (probs[i] != null) choiceNode.set("logprobs", probs[i].take());
                            if (end != null && end.usage() != null) completionTokens += end.usage().completionTokens();
                            if (root == null) {
                                root = answer;
                                choices = (ArrayNode) answer.get("choices");
                            } else {
                                choices.add(choiceNode);
                            }
                        }
                        if (n > 1) {
                            root.set("usage", OpenAiJson.usage(new TokenEvent.Usage(generations.getFirst().promptTokens(), completionTokens,
                                    last[0] == null || last[0].usage() == null ? 0 : last[0].usage().cachedPromptTokens())));
                        }
                        sendJson(ctx, 200, root);
                    }));
        }
        cancelOnClose(ctx, subscriptions);
    }

    /**
     * The chunks of n choices as their tokens come (each chunk names its choice's index), then the usage chunk of
     * all of them and [DONE] once every choice ended. Log-probabilities ride on the chunk that carries their text: a
     * token whose text is held back (an incomplete UTF-8 character) has its entry in the next chunk sent.
     */
    private void stream(RoutingContext ctx, boolean chat, List<GenerationService.Generation> generations, boolean includeUsage,
                        boolean logprobs, ChatReply reply) {
        long created = System.currentTimeMillis() / 1000;
        String model = runtime.modelName();
        String id = generations.getFirst().id();
        int n = generations.size();
        HttpServerResponse response = startEventStream(ctx);
        int[] done = {0};
        int[] completionTokens = {0};
        TokenEvent.Usage[] firstUsage = {null};
        List<Cancellable> subscriptions = new ArrayList<>(n);
        for (int c = 0; c < n; c++) {
            int choice = c;
            LogprobsJson probs = logprobs ? new LogprobsJson(chat, runtime.tokenizer()) : null;
            if (chat) writeEvent(response, indexed(OpenAiJson.chunk(true, id, created, model, "assistant", "", null, includeUsage), choice, null));
            ReplyStream parsed = reply == null ? null : reply.forChoice(c).stream();
            boolean[] calls = {false};
            subscriptions.add(onContext(ctx, generations.get(c).events()).subscribe().with(
                    event -> {
                        if (response.closed()) return;
                        if (event.finish() == FinishReason.ERROR) {
                            writeEvent(response, OpenAiJson.error(event.errorMessage(), "server_error", null, event.errorCode()));
                            return;
                        }
                        if (probs != null) probs.add(event);
                        String reason = event.finish() == null ? null : event.finish().wire();
                        if (parsed != null) {
                            // the reply's deltas as the parser releases them; log-probabilities ride on the next chunk sent
                            List<ReplyStream.Delta> deltas = new ArrayList<>(parsed.push(reply.text(event)));
                            if (event.last()) deltas.addAll(parsed.finish());
                            for (ReplyStream.Delta d : deltas) {
                                if (d.kind() == ReplyStream.Delta.Kind.CALL_START) calls[0] = true;
                                writeEvent(response, indexed(OpenAiJson.deltaChunk(id, created, model, OpenAiJson.delta(d), null,
                                        includeUsage), choice, probs));
                            }
                            if (event.last()) {
                                if (calls[0] && event.finish() == FinishReason.STOP) reason = AssistantReply.TOOL_CALLS;
                                writeEvent(response, indexed(OpenAiJson.chunk(true, id, created, model, null, null, reason, includeUsage),
                                        choice, probs));
                            }
                        } else if (event.last() && chat && event.text() != null && !event.text().isEmpty()) {
                            // OpenAI's last chat chunk has an empty delta: send the final text first.
                            writeEvent(response, indexed(OpenAiJson.chunk(true, id, created, model, null, event.text(), null, includeUsage),
                                    choice, probs));
                            writeEvent(response, indexed(OpenAiJson.chunk(true, id, created, model, null, null, reason, includeUsage),
                                    choice, null));
                        } else if (!event.last() && (event.text() == null || event.text().isEmpty())) {
                            return; // an incomplete UTF-8 character: nothing to show yet
                        } else {
                            writeEvent(response, indexed(OpenAiJson.chunk(chat, id, created, model, null,
                                    event.last() && chat ? null : event.text(), reason, includeUsage), choice, probs));
                        }
                        if (event.last() && event.usage() != null) {
                            completionTokens[0] += event.usage().completionTokens();
                            if (firstUsage[0] == null) firstUsage[0] = event.usage();
                        }
                    },
                    failure -> {
                        LOG.errorf(failure, "stream %s failed", id);
                        subscriptions.forEach(Cancellable::cancel);
                        if (!response.closed() && !response.ended()) {
                            writeEvent(response, OpenAiJson.error(String.valueOf(failure.getMessage()), "server_error", null, null));
                            response.end("data: [DONE]\n\n");
                        }
                    },
                    () -> {
                        if (++done[0] < n || response.closed() || response.ended()) return;
                        if (includeUsage && firstUsage[0] != null) {
                            writeEvent(response, OpenAiJson.usageChunk(chat, id, created, model,
                                    new TokenEvent.Usage(firstUsage[0].promptTokens(), completionTokens[0],
                                            firstUsage[0].cachedPromptTokens())));
                        }
                        response.end("data: [DONE]\n\n");
                    }));
        }
        cancelOnClose(ctx, subscriptions);
    }

    /** A chunk of choice {@code index}, with what {@code probs} gathered since its last chunk (when there is any). */
    private static ObjectNode indexed(ObjectNode chunk, int index, LogprobsJson probs) {
        ObjectNode choice = (ObjectNode) chunk.get("choices").get(0);
        choice.put("index", index);
        if (probs != null && !probs.isEmpty()) choice.set("logprobs", probs.take());
        return chunk;
    }

    private void requestEvents(RoutingContext ctx) {
        String id = ctx.pathParam("id");
        HttpServerResponse response = startEventStream(ctx);
        long keepAlive = Math.max(1000, config.events().keepAlive().toMillis());
        long timer = ctx.vertx().setPeriodic(keepAlive, t -> {
            if (!response.closed() && !response.ended()) response.write(": keep-alive\n\n");
        });
        // The last event carries full_text, as in the tokens topic (token-event.schema.json), when this watcher saw
        // every index from 0 (a request cached only in part would give a wrong whole).
        StringBuilder fullText = new StringBuilder();
        int[] nextIndex = {0};
        Cancellable subscription = onContext(ctx, tail.watch(id)).subscribe().with(
                event -> {
                    boolean gapFree = nextIndex[0] == event.index();
                    nextIndex[0] = gapFree ? event.index() + 1 : -1;
                    if (gapFree && event.text() != null) fullText.append(event.text());
                    String whole = event.last() && gapFree ? fullText.toString() : null;
                    if (!response.closed()) response.write("data: " + TokenEventJson.toString(event, whole) + "\n\n");
                },
                failure -> {
                    ctx.vertx().cancelTimer(timer);
                    if (response.closed()) return;
                    if (failure instanceof EventsCache.UnknownRequestException unknown) {
                        // A clear end instead of an endless stream of keep-alives: SSE event "end", no token event.
                        ObjectNode end = OpenAiJson.error(unknown.getMessage(), "not_found_error", null, "request_not_found");
                        end.put("id", id);
                        try {
                            response.write("event: end\ndata: " + RequestParser.JSON.writeValueAsString(end) + "\n\n");
                        } catch (JsonProcessingException e) {
                            throw new IllegalStateException(e);
                        }
                    }
                    response.end();
                },
                () -> {
                    ctx.vertx().cancelTimer(timer);
                    if (!response.closed()) response.end();
                });
        response.closeHandler(v -> {
            ctx.vertx().cancelTimer(timer);
            subscription.cancel();
        });
    }

    private void models(RoutingContext ctx) {
        if (!modelLoaded(ctx)) return;
        ObjectNode root = RequestParser.JSON.createObjectNode();
        root.put("object", "list");
        root.putArray("data").add(modelObject());
        sendJson(ctx, 200, root);
    }

    /** The SDK's models.retrieve: the served model, or a 404 naming the id. */
    private void model(RoutingContext ctx) {
        if (!modelLoaded(ctx)) return;
        String id = ctx.pathParam("id");
        if (!runtime.modelName().equals(id)) {
            HttpErrors.send(ctx, 404, "The model '" + (id.length() > 200 ? id.substring(0, 200) + "..." : id)
                    + "' does not exist: this service serves '" + runtime.modelName() + "'", "invalid_request_error", "model", "model_not_found");
            return;
        }
        sendJson(ctx, 200, modelObject());
    }

    /** False, after answering 503, while the model loads (or failed to). */
    private boolean modelLoaded(RoutingContext ctx) {
        try {
            service.engine();
            return true;
        } catch (RuntimeException e) {
            sendError(ctx, e);
            return false;
        }
    }

    private ObjectNode modelObject() {
        ObjectNode model = RequestParser.JSON.createObjectNode();
        model.put("id", runtime.modelName());
        model.put("object", "model");
        model.put("created", STARTED);
        model.put("owned_by", "moeflow");
        model.putObject("meta").put("n_ctx", runtime.contextLength());
        return model;
    }

    /** Answers in every model state (the page shows "loading"); the expert store's lock is taken off the event loop. */
    private void stats(RoutingContext ctx) {
        ctx.vertx().executeBlocking(liveStats::snapshot, false)
                .onSuccess(body -> sendJson(ctx, 200, body))
                .onFailure(e -> sendError(ctx, e));
    }

    /** GET /v1/stats/experts[?window=S]: the playground's expert map ({@link LiveStats#experts}). */
    private void expertStats(RoutingContext ctx) {
        int seconds;
        try {
            seconds = windowSeconds(ctx.queryParam("window"));
        } catch (InvalidRequestException e) {
            sendError(ctx, e);
            return;
        }
        ctx.vertx().executeBlocking(() -> liveStats.experts(seconds), false)
                .onSuccess(body -> sendJson(ctx, 200, body))
                .onFailure(e -> sendError(ctx, e));
    }

    static int windowSeconds(java.util.List<String> values) {
        if (values.isEmpty()) return LiveStats.EXPERT_WINDOW_SECONDS;
        int max = io.moeflow.scheduler.BatchScheduler.MAX_ACTIVITY_SECONDS;
        String raw = values.getFirst();
        try {
            int s = Integer.parseInt(raw.strip());
            if (s >= 1 && s <= max && values.size() == 1) return s;
        } catch (NumberFormatException e) {
            // answered below
        }
        throw new InvalidRequestException("window", "window must be one whole number of seconds from 1 to " + max);
    }

    private static final long STARTED = System.currentTimeMillis() / 1000;

    /**
     * Like llama-server: 200 {"status":"ok"} once the model is loaded and Kafka is set up (the embedded broker up, the
     * topics applied); before, 503 with llama-server's error object and what is still starting, per component.
     */
    private void health(RoutingContext ctx) {
        ModelRuntime.State state = runtime.state();
        KafkaSetup.Phase kafka = kafkaSetup.phase();
        if (state == ModelRuntime.State.READY && kafka == KafkaSetup.Phase.READY) {
            ObjectNode ok = RequestParser.JSON.createObjectNode();
            ok.put("status", "ok");
            sendJson(ctx, 200, ok);
            return;
        }
        String model = switch (state) {
            case READY -> "ready";
            case LOADING -> "loading";
            case FAILED -> "failed: " + runtime.failure().orElse("unknown error");
        };
        java.util.List<String> waiting = new java.util.ArrayList<>();
        if (state == ModelRuntime.State.LOADING) waiting.add("Loading model");
        if (state == ModelRuntime.State.FAILED) waiting.add("Model failed to load: " + runtime.failure().orElse("unknown error"));
        if (kafka != KafkaSetup.Phase.READY) waiting.add("Kafka: " + kafkaSetup.describe());
        ObjectNode root = RequestParser.JSON.createObjectNode();
        ObjectNode error = root.putObject("error");
        error.put("code", 503);
        error.put("message", String.join("; ", waiting));
        error.put("type", "unavailable_error");
        ObjectNode starting = root.putObject("components");
        starting.put("model", model);
        starting.put("kafka", kafkaSetup.describe());
        ctx.response().putHeader("Retry-After", "1");
        sendJson(ctx, 503, root);
    }

    /** A generation request that never reached the engine: counted, then answered like any error. */
    private void refuse(RoutingContext ctx, Throwable e) {
        metrics.refused(ServiceMetrics.Api.HTTP, e);
        sendError(ctx, e);
    }

    private void sendError(RoutingContext ctx, Throwable e) {
        errors.sendError(ctx, e);
    }

    private static void sendJson(RoutingContext ctx, int status, JsonNode body) {
        HttpErrors.sendJson(ctx.response(), status, body);
    }

    private static HttpServerResponse startEventStream(RoutingContext ctx) {
        HttpServerResponse response = ctx.response();
        response.setChunked(true)
                .putHeader("Content-Type", "text/event-stream; charset=utf-8")
                .putHeader("Cache-Control", "no-cache")
                .putHeader("X-Accel-Buffering", "no");
        response.write(""); // sends the headers now, so clients see the stream open before the first token
        return response;
    }

    private static void writeEvent(HttpServerResponse response, JsonNode data) {
        try {
            response.write("data: " + RequestParser.JSON.writeValueAsString(data) + "\n\n");
        } catch (JsonProcessingException e) {
            throw new IllegalStateException(e);
        }
    }

    /** Delivers the engine's events on the request's Vert.x context, in order. */
    private static <T> Multi<T> onContext(RoutingContext ctx, Multi<T> events) {
        Context context = ctx.vertx().getOrCreateContext();
        Executor executor = task -> context.runOnContext(v -> task.run());
        return events.emitOn(executor);
    }

    /** A client that goes away cancels its generations: the sequences leave the batch at the next step. */
    private static void cancelOnClose(RoutingContext ctx, List<Cancellable> subscriptions) {
        ctx.response().closeHandler(v -> subscriptions.forEach(Cancellable::cancel));
    }

}
