package io.moeflow.api.http;

import io.moeflow.api.MoeflowConfig;
import io.netty.channel.Channel;
import io.netty.util.AttributeKey;
import io.quarkus.vertx.http.HttpServerOptionsCustomizer;
import io.quarkus.vertx.http.runtime.filters.Filters;
import io.vertx.core.Vertx;
import io.vertx.core.http.HttpConnection;
import io.vertx.core.http.HttpServerOptions;
import io.vertx.core.http.HttpServerRequest;
import io.vertx.core.net.impl.ConnectionBase;
import io.vertx.ext.web.RoutingContext;
import jakarta.enterprise.context.ApplicationScoped;
import jakarta.enterprise.event.Observes;
import jakarta.inject.Inject;
import org.jboss.logging.Logger;

/**
 * Time limits for clients that send slowly (issue: 1,000 connections holding half-sent headers, a body trickled at
 * a byte per 0.3 s):
 * <ul>
 *   <li>header timeout ({@code moeflow.http.header-timeout}): a connection with no request in progress, from its
 *   opening or from the end of its previous response, must deliver a whole request head within it, or it is closed.
 *   This is also how long an idle keep-alive connection stays open;</li>
 *   <li>body timeout ({@code moeflow.http.body-timeout}): from the end of the head to the end of the body; past it
 *   the request is answered 408 and the connection closed.</li>
 * </ul>
 * A connection's state lives on its Netty channel and is only touched on that channel's event loop.
 */
@ApplicationScoped
public class SlowClients implements HttpServerOptionsCustomizer {
    private static final Logger LOG = Logger.getLogger(SlowClients.class);
    /** Runs before every other filter, so that the request is counted before anything can answer it. */
    static final int FILTER_PRIORITY = 30_000;
    private static final AttributeKey<Guard> GUARD = AttributeKey.valueOf("moeflow.http.guard");
    private static final String COUNTED = "moeflow.http.counted";

    @Inject
    MoeflowConfig config;
    @Inject
    Vertx vertx;

    /**
     * No cleartext HTTP/2 (h2c): to spot an upgrade, Vert.x holds a connection's bytes until the whole request head
     * has arrived, so a connection would not even be seen (nor its header timeout start) while a client trickles it.
     * HTTP/2 over TLS is unaffected.
     */
    @Override
    public void customizeHttpServer(HttpServerOptions options) {
        options.setHttp2ClearTextEnabled(false);
    }

    void filters(@Observes Filters filters) {
        filters.register(this::onRequest, FILTER_PRIORITY);
    }

    /** A new connection (called on its event loop by {@link VertxServerHooks}). */
    void opened(HttpConnection connection) {
        Channel channel = channel(connection);
        if (channel == null) return;
        Guard guard = new Guard(channel, config.http().headerTimeout().toMillis());
        channel.attr(GUARD).set(guard);
        guard.idle();
    }

    private void onRequest(RoutingContext ctx) {
        if (ctx.get(COUNTED) == null) { // a reroute (/metrics) passes the filters again
            ctx.put(COUNTED, Boolean.TRUE);
            Channel channel = channel(ctx.request().connection());
            Guard guard = channel == null ? null : channel.attr(GUARD).get();
            if (guard != null) {
                guard.begin();
                ctx.addEndHandler(v -> guard.end());
            }
            if (!ctx.request().isEnded() && hasBody(ctx.request())) bodyDeadline(ctx);
        }
        ctx.next();
    }

    private void bodyDeadline(RoutingContext ctx) {
        long timeout = config.http().bodyTimeout().toMillis();
        long timer = vertx.setTimer(timeout, t -> {
            // once the answer has begun (a stream), the body no longer matters
            if (ctx.request().isEnded() || ctx.response().headWritten() || ctx.response().closed()) return;
            LOG.debugf("request body not received within %d ms: answered 408", timeout);
            HttpConnection connection = ctx.request().connection();
            ctx.response().putHeader("Connection", "close");
            HttpErrors.send(ctx, 408, "the request body did not arrive within " + timeout + " ms (moeflow.http.body-timeout)",
                    "invalid_request_error", null, "request_timeout");
            connection.close();
        });
        ctx.addEndHandler(v -> vertx.cancelTimer(timer));
    }

    /** A body is announced (a request without one is never "ended" while Quarkus holds it paused). */
    private static boolean hasBody(HttpServerRequest request) {
        String length = request.getHeader("Content-Length");
        return length != null && !length.trim().equals("0") || request.getHeader("Transfer-Encoding") != null;
    }

    private static Channel channel(HttpConnection connection) {
        return connection instanceof ConnectionBase base ? base.channel() : null;
    }

    /** Requests in progress on one connection, and the deadline for the next request head while there are none. */
    private final class Guard {
        private final Channel channel;
        private final long timeoutMs;
        private int active;
        private long timer = -1;

        Guard(Channel channel, long timeoutMs) {
            this.channel = channel;
            this.timeoutMs = timeoutMs;
        }

        void idle() {
            cancel();
            timer = vertx.setTimer(timeoutMs, t -> {
                timer = -1;
                if (active == 0) {
                    LOG.debugf("no request head within %d ms on a connection: closed", timeoutMs);
                    // Under Vert.x: its close() first writes through the HTTP encoder, which has no answer to end here,
                    // and the close never happens.
                    var first = channel.pipeline().firstContext();
                    if (first != null) first.close(); else channel.close();
                }
            });
        }

        void begin() {
            active++;
            cancel();
        }

        void end() {
            if (--active == 0) idle();
        }

        private void cancel() {
            if (timer >= 0) vertx.cancelTimer(timer);
            timer = -1;
        }
    }
}
