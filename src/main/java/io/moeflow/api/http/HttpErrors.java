package io.moeflow.api.http;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import io.moeflow.api.ClientText;
import io.moeflow.api.InvalidRequestException;
import io.moeflow.api.MoeflowConfig;
import io.moeflow.api.RequestParser;
import io.moeflow.api.ServiceUnavailableException;
import io.moeflow.scheduler.GenerationEngine;
import io.netty.buffer.Unpooled;
import io.netty.channel.ChannelHandlerContext;
import io.netty.handler.codec.DecoderException;
import io.netty.handler.codec.TooLongFrameException;
import io.vertx.core.VertxException;
import io.vertx.core.http.HttpClosedException;
import io.vertx.core.http.HttpMethod;
import io.vertx.core.http.HttpServerResponse;
import io.vertx.core.net.impl.ConnectionBase;
import io.vertx.ext.web.Route;
import io.vertx.ext.web.Router;
import io.vertx.ext.web.RoutingContext;
import io.vertx.ext.web.handler.HttpException;
import jakarta.enterprise.context.ApplicationScoped;
import jakarta.enterprise.event.Observes;
import jakarta.inject.Inject;
import java.nio.channels.ClosedChannelException;
import java.nio.charset.StandardCharsets;
import java.util.Set;
import java.util.TreeSet;
import java.util.regex.Pattern;
import org.jboss.logging.Logger;

/**
 * Every error the router produces, on every route (ours, Quarkus' /q/*, static files), answered in OpenAI's shape
 * {@code {"error": {"message", "type", "param", "code"}}}: unknown routes (404), wrong methods (405 with Allow),
 * failures of any handler, and the domain exceptions of the API. Errors that Vert.x raises before the router (a
 * request line or headers over the limits, a malformed request) are answered by {@link MalformedRequests}.
 */
@ApplicationScoped
public class HttpErrors {
    private static final Logger LOG = Logger.getLogger(HttpErrors.class);

    @Inject
    MoeflowConfig config;

    private volatile Router router;

    void register(@Observes Router router) {
        this.router = router;
        router.errorHandler(404, this::notFound);
        router.errorHandler(405, this::methodNotAllowed);
        // A handler that fails without a failure handler of its own (Quarkus' included) ends here.
        // Before Quarkus' own last-resort handler (order Integer.MAX_VALUE), which answers HTML or its own JSON.
        router.route().order(Integer.MAX_VALUE - 1).failureHandler(this::failure);
        for (int status : new int[] {400, 401, 403, 406, 408, 413, 415, 500, 501, 503}) {
            router.errorHandler(status, this::failure);
        }
    }

    /**
     * No route took the request. Vert.x says 405 only when the last routes it tried matched the path, so whether
     * another method would have been taken is decided here, from the routes themselves.
     */
    private void notFound(RoutingContext ctx) {
        if (!allowedMethods(ctx.request().path()).isEmpty()) {
            methodNotAllowed(ctx);
            return;
        }
        send(ctx, 404, "unknown route: " + describe(ctx) + " (the endpoints are listed in docs/CONFIGURATION.md)",
                "invalid_request_error", null, "unknown_url");
    }

    private void methodNotAllowed(RoutingContext ctx) {
        Set<String> allowed = allowedMethods(ctx.request().path());
        if (!allowed.isEmpty()) ctx.response().putHeader("Allow", String.join(", ", allowed));
        send(ctx, 405, "method " + ctx.request().method() + " is not allowed on " + path(ctx)
                        + (allowed.isEmpty() ? "" : "; allowed: " + String.join(", ", allowed)),
                "invalid_request_error", null, "method_not_allowed");
    }

    /** The failure handler of every route: maps the failure (or the status a handler failed with) to an error. */
    void failure(RoutingContext ctx) {
        Throwable failure = ctx.failure();
        if (isFraming(failure) && answerUnframed(ctx, failure)) return;
        if (ctx.response().closed() || isDisconnect(failure)) {
            LOG.debugf("%s %s: the client went away (%s)", ctx.request().method(), ClientText.forLog(ctx.request().path()),
                    failure == null ? "connection closed" : ClientText.forLog(failure));
            return;
        }
        if (ctx.response().headWritten()) {
            ctx.response().end(); // a stream that already started cannot become an error answer
            return;
        }
        if (failure == null || failure instanceof HttpException) {
            int status = failure instanceof HttpException http ? http.getStatusCode() : ctx.statusCode();
            sendStatus(ctx, status > 0 ? status : 500);
            return;
        }
        if (ctx.statusCode() >= 400 && ctx.statusCode() < 500 && !(failure instanceof InvalidRequestException)) {
            // Vert.x refusing the request itself (no Host header, a path that does not start with /): its reason
            send(ctx, ctx.statusCode(), "malformed request: " + failure.getMessage(), "invalid_request_error", null, "malformed_request");
            return;
        }
        sendError(ctx, failure);
    }

    /** The error answer for a status a handler (Vert.x' BodyHandler, Quarkus) failed with, without a cause. */
    private void sendStatus(RoutingContext ctx, int status) {
        switch (status) {
            case 413 -> send(ctx, 413, "request body is larger than the limit of " + config.limits().maxRequestBytes()
                    + " bytes (moeflow.limits.max-request-bytes)", "invalid_request_error", null, "request_too_large");
            case 400 -> send(ctx, 400, "malformed request: " + describe(ctx), "invalid_request_error", null, "malformed_request");
            case 401 -> send(ctx, 401, "authentication required", "invalid_request_error", null, "invalid_api_key");
            case 403 -> send(ctx, 403, "forbidden: " + describe(ctx), "invalid_request_error", null, "forbidden");
            case 404 -> notFound(ctx);
            case 405 -> methodNotAllowed(ctx);
            case 408 -> send(ctx, 408, "the request took too long to arrive", "invalid_request_error", null, "request_timeout");
            case 415 -> send(ctx, 415, "unsupported content type", "invalid_request_error", null, "unsupported_media_type");
            case 503 -> send(ctx, 503, "service unavailable", "unavailable_error", null, null);
            default -> {
                if (status >= 500) LOG.errorf("%s %s failed with status %d", ctx.request().method(), ClientText.forLog(ctx.request().path()), status);
                send(ctx, status, status >= 500 ? "request failed (status " + status + ")" : "request refused (status " + status + ")",
                        status >= 500 ? "server_error" : "invalid_request_error", null, null);
            }
        }
    }

    /** The answer to an exception: the API's own exceptions name the problem; anything else is a 500. */
    void sendError(RoutingContext ctx, Throwable e) {
        if (e instanceof InvalidRequestException bad) {
            send(ctx, 400, bad.getMessage(), "invalid_request_error", bad.param(), bad.code());
        } else if (e instanceof GenerationEngine.QueueFullException full) {
            ctx.response().putHeader("Retry-After", Integer.toString(config.limits().retryAfterSeconds()));
            send(ctx, 429, "the server is busy: " + full.getMessage() + "; retry later", "rate_limit_error", null, "rate_limit_exceeded");
        } else if (e instanceof ServiceUnavailableException unavailable) {
            // loading (seconds to minutes) or draining: a client may come back, as llama-server's clients do
            ctx.response().putHeader("Retry-After", Integer.toString(config.limits().retryAfterSeconds()));
            send(ctx, 503, unavailable.getMessage(), "unavailable_error", null, "service_unavailable");
        } else if (e instanceof IllegalArgumentException refused) {
            // the engine refuses a request it cannot serve (e.g. a prompt longer than its context)
            send(ctx, 400, refused.getMessage(), "invalid_request_error", null, null);
        } else if (isDisconnect(e)) {
            LOG.debugf("%s %s: the client went away (%s)", ctx.request().method(), ClientText.forLog(ctx.request().path()), ClientText.forLog(e));
        } else {
            LOG.errorf(e, "request %s %s failed", ctx.request().method(), ClientText.forLog(ctx.request().path()));
            send(ctx, 500, "internal error: " + e.getMessage(), "server_error", null, null);
        }
    }

    /**
     * The HTTP decoder could not read the body (a chunk size that is not hexadecimal, ...): Vert.x closes the
     * connection right after this failure, so an answer written the usual way never leaves.
     */
    private static boolean isFraming(Throwable e) {
        if (e instanceof DecoderException || e instanceof TooLongFrameException) return true;
        if (!(e instanceof NumberFormatException)) return false;
        for (StackTraceElement frame : e.getStackTrace()) {
            if (frame.getClassName().startsWith("io.netty.handler.codec.http.")) return true;
        }
        return false;
    }

    /**
     * The error written under the HTTP encoder, straight onto the socket before Vert.x closes it, so that the client
     * still learns why.
     */
    private static boolean answerUnframed(RoutingContext ctx, Throwable failure) {
        if (!(ctx.request().connection() instanceof ConnectionBase connection) || !connection.channel().isActive()) return false;
        if (ctx.response().headWritten()) return false;
        String json;
        try {
            json = RequestParser.JSON.writeValueAsString(OpenAiJson.error("malformed request body: " + failure.getMessage(),
                    "invalid_request_error", null, "malformed_request"));
        } catch (JsonProcessingException e) {
            return false;
        }
        byte[] body = json.getBytes(StandardCharsets.UTF_8);
        byte[] head = ("HTTP/1.1 400 Bad Request\r\nContent-Type: application/json\r\nContent-Length: " + body.length
                + "\r\nConnection: close\r\n\r\n").getBytes(StandardCharsets.US_ASCII);
        ChannelHandlerContext first = connection.channel().pipeline().firstContext();
        if (first == null) return false;
        first.writeAndFlush(Unpooled.wrappedBuffer(head, body));
        LOG.debugf("%s %s: malformed body (%s), answered 400", ctx.request().method(), ClientText.forLog(ctx.request().path()),
                ClientText.forLog(failure.getMessage()));
        return true;
    }

    /** A client that closed its connection (mid-body, mid-stream): nothing to answer and nothing to alarm anyone. */
    static boolean isDisconnect(Throwable e) {
        for (Throwable t = e; t != null; t = t.getCause()) {
            if (t instanceof HttpClosedException || t instanceof ClosedChannelException) return true;
            if (t instanceof VertxException && t.getMessage() != null && t.getMessage().contains("Connection was closed")) return true;
            if (t instanceof java.io.IOException && t.getMessage() != null
                    && (t.getMessage().contains("Connection reset") || t.getMessage().contains("Broken pipe"))) return true;
        }
        return false;
    }

    /** Writes {@code {"error": {...}}} with {@code status}, unless the response is already over. */
    static void send(RoutingContext ctx, int status, String message, String type, String param, String code) {
        sendJson(ctx.response(), status, OpenAiJson.error(message, type, param, code));
    }

    static void sendJson(HttpServerResponse response, int status, JsonNode body) {
        if (response.ended() || response.closed() || response.headWritten()) return;
        try {
            response.setStatusCode(status).putHeader("Content-Type", "application/json")
                    .end(RequestParser.JSON.writeValueAsString(body));
        } catch (JsonProcessingException e) {
            response.setStatusCode(500).end();
        }
    }

    private static String describe(RoutingContext ctx) {
        return ctx.request().method() + " " + path(ctx);
    }

    /** The request path as the client sent it, cut to a readable length (it is echoed in the answer). */
    static String path(RoutingContext ctx) {
        String path = ctx.request().path();
        if (path == null) path = ctx.request().uri();
        if (path == null) return "?";
        return path.length() > 200 ? path.substring(0, 200) + "..." : path;
    }

    /** Methods of the routes whose path matches {@code path}; routes for every method (filters) say nothing. */
    Set<String> allowedMethods(String path) {
        Set<String> allowed = new TreeSet<>();
        Router r = router;
        if (r == null || path == null) return allowed;
        for (Route route : r.getRoutes()) {
            Set<HttpMethod> methods = route.methods();
            if (methods == null || methods.isEmpty() || route.getPath() == null) continue; // null: a regex route
            if (matches(route.getPath(), route.isExactPath(), path)) methods.forEach(m -> allowed.add(m.name()));
        }
        return allowed;
    }

    static boolean matches(String routePath, boolean exact, String path) {
        String[] parts = routePath.split("/", -1);
        StringBuilder regex = new StringBuilder();
        for (int i = 0; i < parts.length; i++) {
            if (i > 0) regex.append('/');
            regex.append(parts[i].startsWith(":") ? "[^/]+" : Pattern.quote(parts[i]));
        }
        return path.matches(regex + (exact ? "" : ".*"));
    }
}
