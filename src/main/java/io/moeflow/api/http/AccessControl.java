package io.moeflow.api.http;

import io.moeflow.api.MoeflowConfig;
import io.quarkus.vertx.http.runtime.filters.Filters;
import io.vertx.core.http.HttpMethod;
import io.vertx.core.http.HttpServerRequest;
import io.vertx.core.http.HttpServerResponse;
import io.vertx.ext.web.RoutingContext;
import jakarta.enterprise.context.ApplicationScoped;
import jakarta.enterprise.event.Observes;
import jakarta.inject.Inject;
import org.eclipse.microprofile.config.ConfigProvider;
import io.vertx.ext.web.Router;
import java.net.InetAddress;
import java.net.URI;
import java.net.UnknownHostException;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.util.List;
import java.util.Locale;

/**
 * Who may call which route, checked before any route runs (Quarkus' own /q/* routes included):
 * <ul>
 *   <li>open: {@code /health}, {@code /q/health/*} (probes), and the playground's static files;</li>
 *   <li>with {@code moeflow.api-key} set: {@code /v1/*}, {@code /apply-template}, {@code /tokenize},
 *   {@code /detokenize} and every other {@code /q/*} route need
 *   {@code Authorization: Bearer <key>}; {@code /metrics} and {@code /q/metrics} need it too, or
 *   {@code moeflow.http.metrics-key} when that is set (either key is taken);</li>
 *   <li>browsers: a request whose {@code Origin} is neither the service's own nor one of
 *   {@code moeflow.http.cors.origins} is refused (403), so a page elsewhere cannot make a browser spend the
 *   service's compute; listed origins get CORS headers, and their preflight requests are answered here.</li>
 * </ul>
 */
@ApplicationScoped
public class AccessControl {
    static final int FILTER_PRIORITY = 20_000;
    private static final String ALLOWED_METHODS = "GET, POST, OPTIONS";
    private static final String ALLOWED_HEADERS = "Authorization, Content-Type";

    @Inject
    MoeflowConfig config;

    void filters(@Observes Filters filters) {
        filters.register(this::filter, FILTER_PRIORITY);
    }

    /** Runs while Quarkus builds the router, before the socket opens: a refused exposure never listens. */
    void checkExposure(@Observes Router router) {
        String host = ConfigProvider.getConfig().getOptionalValue("quarkus.http.host", String.class).orElse("0.0.0.0");
        String refusal = exposureRefusal(host, key(config.apiKey().orElse(null)) != null, config.http().allowRemoteWithoutKey());
        if (refusal != null) throw new IllegalStateException(refusal);
    }

    /**
     * Why the service must not listen on {@code host}, or null when it may: beyond the loopback interface it needs
     * an API key, unless that is explicitly allowed.
     */
    public static String exposureRefusal(String host, boolean hasApiKey, boolean allowedWithoutKey) {
        if (hasApiKey || allowedWithoutKey || isLoopbackHost(host)) return null;
        return "refusing to listen on " + host + " without an API key: anyone who can reach this address could use"
                + " the service. Set moeflow.api-key (MOEFLOW_API_KEY), listen on 127.0.0.1 (quarkus.http.host), or"
                + " allow it explicitly with moeflow.http.allow-remote-without-key=true";
    }

    /** A loopback address or localhost; a name is not looked up (it could resolve to anything later). */
    public static boolean isLoopbackHost(String host) {
        if (host == null || host.isBlank()) return false;
        String h = host.startsWith("[") && host.endsWith("]") ? host.substring(1, host.length() - 1) : host;
        if (h.equalsIgnoreCase("localhost")) return true;
        try {
            if (!h.matches("[0-9.]+|[0-9a-fA-F:]+")) return false;
            return InetAddress.getByName(h).isLoopbackAddress();
        } catch (UnknownHostException e) {
            return false;
        }
    }

    /** Which key a path needs. */
    enum Guard { OPEN, API_KEY, METRICS_KEY }

    static Guard guard(String path) {
        if (path == null) return Guard.API_KEY;
        if (path.equals("/metrics") || path.equals("/q/metrics") || path.startsWith("/q/metrics/")) return Guard.METRICS_KEY;
        if (path.equals("/q/health") || path.startsWith("/q/health/")) return Guard.OPEN;
        if (path.equals("/v1") || path.startsWith("/v1/") || path.equals("/q") || path.startsWith("/q/")) return Guard.API_KEY;
        if (ModelInputRoutes.PATHS.contains(path)) return Guard.API_KEY;
        return Guard.OPEN;
    }

    private void filter(RoutingContext ctx) {
        HttpServerRequest request = ctx.request();
        String origin = request.getHeader("Origin");
        if (origin != null && !sameOrigin(origin, request.getHeader("Host"))) {
            if (!corsAllows(origin)) {
                HttpErrors.send(ctx, 403, "requests from pages of the origin " + cut(origin) + " are not allowed here ("
                        + cut(String.valueOf(request.getHeader("Host"))) + "): list the origin in"
                        + " moeflow.http.cors.origins", "invalid_request_error", null, "origin_not_allowed");
                return;
            }
            HttpServerResponse response = ctx.response();
            response.putHeader("Access-Control-Allow-Origin", allowsAnyOrigin() ? "*" : origin);
            response.putHeader("Vary", "Origin");
            if (request.method() == HttpMethod.OPTIONS && request.getHeader("Access-Control-Request-Method") != null) {
                response.putHeader("Access-Control-Allow-Methods", ALLOWED_METHODS)
                        .putHeader("Access-Control-Allow-Headers", ALLOWED_HEADERS)
                        .putHeader("Access-Control-Max-Age", Long.toString(config.http().cors().maxAge().toSeconds()))
                        .setStatusCode(204).end();
                return;
            }
            response.putHeader("Access-Control-Expose-Headers", "Retry-After");
        }
        if (!authorized(guard(request.path()), request.getHeader("Authorization"))) {
            ctx.response().putHeader("WWW-Authenticate", "Bearer");
            HttpErrors.send(ctx, 401, "Incorrect or missing API key: send \"Authorization: Bearer <key>\"",
                    "invalid_request_error", null, "invalid_api_key");
            return;
        }
        ctx.next();
    }

    private boolean authorized(Guard guard, String header) {
        String apiKey = key(config.apiKey().orElse(null));
        return switch (guard) {
            case OPEN -> true;
            case API_KEY -> apiKey == null || matches(header, apiKey);
            case METRICS_KEY -> {
                String metricsKey = key(config.http().metricsKey().orElse(null));
                if (metricsKey == null && apiKey == null) yield true;
                yield metricsKey != null && matches(header, metricsKey) || apiKey != null && matches(header, apiKey);
            }
        };
    }

    private static String key(String key) {
        return key == null || key.isBlank() ? null : key;
    }

    /** Constant time, so the comparison does not tell how much of a guess was right. */
    private static boolean matches(String header, String key) {
        byte[] given = header == null ? new byte[0] : header.getBytes(StandardCharsets.UTF_8);
        return MessageDigest.isEqual(given, ("Bearer " + key).getBytes(StandardCharsets.UTF_8));
    }

    private List<String> origins() {
        return config.http().cors().origins().orElse(List.of());
    }

    private boolean allowsAnyOrigin() {
        return origins().contains("*");
    }

    private boolean corsAllows(String origin) {
        for (String allowed : origins()) {
            if (allowed.equals("*") || allowed.equalsIgnoreCase(origin)) return true;
        }
        return false;
    }

    /** The page's origin is this service (the playground): its host and port are the Host the request went to. */
    static boolean sameOrigin(String origin, String host) {
        if (host == null) return false;
        try {
            URI uri = URI.create(origin);
            if (uri.getHost() == null || uri.getScheme() == null) return false;
            String scheme = uri.getScheme().toLowerCase(Locale.ROOT);
            int port = uri.getPort() >= 0 ? uri.getPort() : scheme.equals("https") ? 443 : 80;
            URI target = URI.create(scheme + "://" + host);
            if (target.getHost() == null) return false;
            int targetPort = target.getPort() >= 0 ? target.getPort() : scheme.equals("https") ? 443 : 80;
            return uri.getHost().equalsIgnoreCase(target.getHost()) && port == targetPort;
        } catch (IllegalArgumentException e) {
            return false;
        }
    }

    private static String cut(String s) {
        return s.length() > 100 ? s.substring(0, 100) + "..." : s;
    }
}
