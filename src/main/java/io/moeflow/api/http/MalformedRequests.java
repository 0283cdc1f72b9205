package io.moeflow.api.http;

import io.moeflow.api.ClientText;
import io.moeflow.api.MoeflowConfig;
import io.netty.handler.codec.DecoderResult;
import io.netty.handler.codec.http.TooLongHttpHeaderException;
import io.netty.handler.codec.http.TooLongHttpLineException;
import io.vertx.core.Handler;
import io.vertx.core.http.HttpServerRequest;
import io.vertx.core.http.HttpServerResponse;
import jakarta.enterprise.context.ApplicationScoped;
import jakarta.inject.Inject;
import java.net.URI;
import java.net.URISyntaxException;
import org.eclipse.microprofile.config.ConfigProvider;
import org.jboss.logging.Logger;

/**
 * Answers for requests that never reach the router, as OpenAI-shaped errors naming the limit or the problem:
 * <ul>
 *   <li>what Vert.x cannot decode: a request line over {@code quarkus.http.limits.max-initial-line-length} (414),
 *   headers over {@code quarkus.http.limits.max-header-size} (431), a malformed request such as a Content-Length
 *   that is not a number (400); the connection is closed after the answer (what follows cannot be framed);</li>
 *   <li>what Quarkus' own request handler would refuse with an empty answer: a URI that is not one (400), and a
 *   Content-Length beyond {@code moeflow.limits.max-request-bytes} (413, before any of the body is read).</li>
 * </ul>
 */
@ApplicationScoped
public class MalformedRequests {
    private static final Logger LOG = Logger.getLogger(MalformedRequests.class);

    @Inject
    MoeflowConfig config;

    /** Runs before Quarkus' request handler {@code root}, which it calls for every request it does not refuse. */
    Handler<HttpServerRequest> before(Handler<HttpServerRequest> root) {
        return request -> {
            String refusal = invalidUri(request.uri());
            if (refusal != null) {
                refuse(request, 400, refusal, "malformed_request");
                return;
            }
            long length = contentLength(request);
            long limit = config.limits().maxRequestBytes();
            if (length > limit) {
                refuse(request, 413, "request body is " + length + " bytes (Content-Length), more than the limit of " + limit
                        + " bytes (moeflow.limits.max-request-bytes)", "request_too_large");
                return;
            }
            root.handle(request);
        };
    }

    /** Why {@code uri} is not a URI (as Quarkus checks it), or null. */
    static String invalidUri(String uri) {
        if (uri == null) return "the request has no URI";
        try {
            new URI(uri);
            return null;
        } catch (URISyntaxException e) {
            return "the request URI is not valid: " + e.getReason() + " at index " + e.getIndex()
                    + " (percent-encode spaces, %, and other reserved characters)";
        }
    }

    private static long contentLength(HttpServerRequest request) {
        String value = request.getHeader("Content-Length");
        if (value == null) return -1;
        try {
            return Long.parseLong(value.trim());
        } catch (NumberFormatException e) {
            return -1; // the decoder lets only numbers through
        }
    }

    private static void refuse(HttpServerRequest request, int status, String message, String code) {
        LOG.debugf("refused a request before the router with %d: %s", status, ClientText.forLog(message));
        HttpServerResponse response = request.response();
        response.putHeader("Connection", "close");
        HttpErrors.sendJson(response, status, OpenAiJson.error(message, "invalid_request_error", null, code));
        request.connection().close();
    }

    void answer(HttpServerRequest request) {
        DecoderResult result = request.decoderResult();
        Throwable cause = result == null ? null : result.cause();
        int status;
        String message;
        String code;
        if (cause instanceof TooLongHttpLineException) {
            status = 414;
            message = "the request line (method, path and query) is longer than the limit of "
                    + limit("quarkus.http.limits.max-initial-line-length", "4096") + " bytes (quarkus.http.limits.max-initial-line-length)";
            code = "uri_too_long";
        } else if (cause instanceof TooLongHttpHeaderException) {
            status = 431;
            message = "the request headers are larger than the limit of "
                    + limit("quarkus.http.limits.max-header-size", "20K") + " (quarkus.http.limits.max-header-size)";
            code = "headers_too_large";
        } else {
            status = 400;
            message = "malformed HTTP request: " + describe(cause);
            code = "malformed_request";
        }
        LOG.debugf("refused an undecodable request: %s", ClientText.forLog(cause));
        refuse(request, status, message, code);
    }

    private static String describe(Throwable cause) {
        if (cause == null) return "it could not be decoded";
        String text = String.valueOf(cause.getMessage());
        if (cause instanceof NumberFormatException || text.contains("Content-Length")) {
            return "the Content-Length header is not one non-negative number (" + cut(text) + ")";
        }
        return cut(text);
    }

    private static String cut(String text) {
        return text.length() > 200 ? text.substring(0, 200) + "..." : text;
    }

    private static String limit(String property, String fallback) {
        return ConfigProvider.getConfig().getOptionalValue(property, String.class).orElse(fallback);
    }
}
