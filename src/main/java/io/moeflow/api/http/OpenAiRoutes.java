package io.moeflow.api.http;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.moeflow.api.GenerationService;
import io.moeflow.api.ModelRuntime;
import io.moeflow.api.MoeflowConfig;
import io.moeflow.api.OpenAiFields;
import io.moeflow.api.PromptSpec;
import io.moeflow.api.RequestParser;
import io.moeflow.api.chat.reply.AssistantReply;
import io.moeflow.api.chat.reply.ChatReply;
import io.moeflow.api.chat.reply.ReplyStream;
import io.moeflow.api.ServiceMetrics;
import io.moeflow.api.kafka.EventsCache;
import io.moeflow.api.kafka.TokenEventJson;
import io.moeflow.api.kafka.TokenEventTail;
import io.moeflow.api.kafka.TokenOrigin;
import io.moeflow.scheduler.FinishReason;
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

    private final SecureRandom seeds = new SecureRandom();

    void register(@Observes Router router) {
        BodyHandler body = BodyHandler.create(false).setBodyLimit(config.limits().maxRequestBytes());
        router.post("/v1/completions").handler(body).handler(ctx -> generate(ctx, false));
        router.post("/v1/chat/completions").handler(body).handler(ctx -> generate(ctx, true));
        router.get("/v1/models").handler(this::models);
        router.get("/v1/models/:id").handler(this::model);
        router.get("/v1/requests/:id/events").handler(this::requestEvents);
        router.get("/v1/stats").handler(this::stats);
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
        // Rendering and tokenizing a long prompt takes milliseconds: off the event loop.
        ctx.vertx().<GenerationService.Prepared>executeBlocking(() -> service.prepareWithReply(id, spec, seed), false)
                .onFailure(e -> refuse(ctx, e))
                .onSuccess(prepared -> {
                    GenerationService.Generation generation;
                    ChatReply reply = prepared.reply();
                    try {
                        generation = service.start(prepared.request(), config.kafka().publishHttpEvents()
                                ? GenerationService.Publish.ASYNC : GenerationService.Publish.NONE,
                                TokenOrigin.http(ctx.request().getHeader("traceparent")));
                    } catch (RuntimeException e) {
                        refuse(ctx, e);
                        return;
                    }
                    if (stream && reply != null) {
                        streamChat(ctx, generation, reply, includeUsage);
                    } else if (stream) {
                        stream(ctx, chat, generation, includeUsage);
                    } else {
                        whole(ctx, chat, generation, reply);
                    }
                });
    }

    private void whole(RoutingContext ctx, boolean chat, GenerationService.Generation generation, ChatReply reply) {
        long created = System.currentTimeMillis() / 1000;
        StringBuilder text = new StringBuilder();
        TokenEvent[] last = new TokenEvent[1];
        Cancellable subscription = onContext(ctx, generation.events()).subscribe().with(
                event -> {
                    if (reply != null) text.append(reply.text(event));
                    else if (event.text() != null) text.append(event.text());
                    if (event.last()) last[0] = event;
                },
                failure -> sendError(ctx, failure),
                () -> {
                    TokenEvent end = last[0];
                    if (end != null && end.finish() == FinishReason.ERROR) {
                        sendJson(ctx, 500, OpenAiJson.error(end.errorMessage(), "server_error", null, end.errorCode()));
                        return;
                    }
                    String reason = end == null ? FinishReason.STOP.wire() : end.finish().wire();
                    if (reply != null) {
                        AssistantReply message = reply.parse(text.toString());
                        if (!message.toolCalls().isEmpty() && FinishReason.STOP.wire().equals(reason)) reason = TOOL_CALLS;
                        sendJson(ctx, 200, OpenAiJson.chatResponse(generation.id(), created, runtime.modelName(), message,
                                reason, end == null ? null : end.usage()));
                        return;
                    }
                    sendJson(ctx, 200, OpenAiJson.response(chat, generation.id(), created, runtime.modelName(),
                            text.toString(), reason, end == null ? null : end.usage()));
                });
        cancelOnClose(ctx, subscription);
    }

    private void stream(RoutingContext ctx, boolean chat, GenerationService.Generation generation, boolean includeUsage) {
        long created = System.currentTimeMillis() / 1000;
        String model = runtime.modelName();
        String id = generation.id();
        HttpServerResponse response = startEventStream(ctx);
        if (chat) writeEvent(response, OpenAiJson.chunk(true, id, created, model, "assistant", "", null, includeUsage));
        Cancellable subscription = onContext(ctx, generation.events()).subscribe().with(
                event -> {
                    if (response.closed()) return;
                    if (event.finish() == FinishReason.ERROR) {
                        writeEvent(response, OpenAiJson.error(event.errorMessage(), "server_error", null, event.errorCode()));
                        return;
                    }
                    String reason = event.finish() == null ? null : event.finish().wire();
                    if (event.last() && chat && event.text() != null && !event.text().isEmpty()) {
                        // OpenAI's last chat chunk has an empty delta: send the final text first.
                        writeEvent(response, OpenAiJson.chunk(true, id, created, model, null, event.text(), null, includeUsage));
                        writeEvent(response, OpenAiJson.chunk(true, id, created, model, null, null, reason, includeUsage));
                    } else if (!event.last() && (event.text() == null || event.text().isEmpty())) {
                        return; // an incomplete UTF-8 character: nothing to show yet
                    } else {
                        writeEvent(response, OpenAiJson.chunk(chat, id, created, model, null,
                                event.last() && chat ? null : event.text(), reason, includeUsage));
                    }
                    if (event.last() && includeUsage) {
                        writeEvent(response, OpenAiJson.usageChunk(chat, id, created, model, event.usage()));
                    }
                },
                failure -> streamFailed(response, id, failure),
                () -> {
                    if (!response.closed()) response.end("data: [DONE]\n\n");
                });
        cancelOnClose(ctx, subscription);
    }

    /** An engine failure in the middle of a stream: an error event, then the end of the stream. */
    private static void streamFailed(HttpServerResponse response, String id, Throwable failure) {
        LOG.errorf(failure, "stream %s failed", id);
        if (!response.closed()) {
            writeEvent(response, OpenAiJson.error(String.valueOf(failure.getMessage()), "server_error", null, null));
            response.end("data: [DONE]\n\n");
        }
    }

    /** OpenAI's finish_reason of an answer that ends with tool calls. */
    private static final String TOOL_CALLS = "tool_calls";

    /**
     * A streamed chat answer: the generated text goes through the reply's parser, which sends reasoning_content and
     * content deltas as they come (holding back what may be the start of a tool-call marker) and each tool call
     * once complete; the last chunk has the finish reason ("tool_calls" when the answer made calls).
     */
    private void streamChat(RoutingContext ctx, GenerationService.Generation generation, ChatReply reply, boolean includeUsage) {
        long created = System.currentTimeMillis() / 1000;
        String model = runtime.modelName();
        String id = generation.id();
        ReplyStream parsed = reply.stream();
        boolean[] calls = new boolean[1];
        HttpServerResponse response = startEventStream(ctx);
        writeEvent(response, OpenAiJson.chunk(true, id, created, model, "assistant", "", null, includeUsage));
        Cancellable subscription = onContext(ctx, generation.events()).subscribe().with(
                event -> {
                    if (response.closed()) return;
                    if (event.finish() == FinishReason.ERROR) {
                        writeEvent(response, OpenAiJson.error(event.errorMessage(), "server_error", null, event.errorCode()));
                        return;
                    }
                    List<ReplyStream.Delta> deltas = new ArrayList<>(parsed.push(reply.text(event)));
                    if (event.last()) deltas.addAll(parsed.finish());
                    for (ReplyStream.Delta d : deltas) {
                        if (d.kind() == ReplyStream.Delta.Kind.CALL_START) calls[0] = true;
                        writeEvent(response, OpenAiJson.deltaChunk(id, created, model, OpenAiJson.delta(d), null, includeUsage));
                    }
                    if (!event.last()) return;
                    String reason = event.finish().wire();
                    if (calls[0] && event.finish() == FinishReason.STOP) reason = TOOL_CALLS;
                    writeEvent(response, OpenAiJson.chunk(true, id, created, model, null, null, reason, includeUsage));
                    if (includeUsage) writeEvent(response, OpenAiJson.usageChunk(true, id, created, model, event.usage()));
                },
                failure -> streamFailed(response, id, failure),
                () -> {
                    if (!response.closed()) response.end("data: [DONE]\n\n");
                });
        cancelOnClose(ctx, subscription);
    }

    private void requestEvents(RoutingContext ctx) {
        String id = ctx.pathParam("id");
        HttpServerResponse response = startEventStream(ctx);
        long keepAlive = Math.max(1000, config.events().keepAlive().toMillis());
        long timer = ctx.vertx().setPeriodic(keepAlive, t -> {
            if (!response.closed() && !response.ended()) response.write(": keep-alive\n\n");
        });
        Cancellable subscription = onContext(ctx, tail.watch(id)).subscribe().with(
                event -> {
                    if (!response.closed()) response.write("data: " + TokenEventJson.toString(event) + "\n\n");
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

    private static final long STARTED = System.currentTimeMillis() / 1000;

    /** Like llama-server: 200 {"status":"ok"} when the model is loaded, 503 while it loads. */
    private void health(RoutingContext ctx) {
        ModelRuntime.State state = runtime.state();
        if (state == ModelRuntime.State.READY) {
            ObjectNode ok = RequestParser.JSON.createObjectNode();
            ok.put("status", "ok");
            sendJson(ctx, 200, ok);
            return;
        }
        String message = state == ModelRuntime.State.LOADING ? "Loading model"
                : "Model failed to load: " + runtime.failure().orElse("unknown error");
        ObjectNode root = RequestParser.JSON.createObjectNode();
        ObjectNode error = root.putObject("error");
        error.put("code", 503);
        error.put("message", message);
        error.put("type", "unavailable_error");
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

    /** A client that goes away cancels its generation: the sequence leaves the batch at the next step. */
    private static void cancelOnClose(RoutingContext ctx, Cancellable subscription) {
        ctx.response().closeHandler(v -> subscription.cancel());
    }

}
