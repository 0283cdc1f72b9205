package io.moeflow.api.http;

import io.moeflow.api.ClientText;
import io.netty.handler.codec.DecoderResult;
import io.netty.handler.codec.http.TooLongHttpHeaderException;
import io.netty.handler.codec.http.TooLongHttpLineException;
import io.vertx.core.http.HttpServerRequest;
import io.vertx.core.http.HttpServerResponse;
import jakarta.enterprise.context.ApplicationScoped;
import org.eclipse.microprofile.config.ConfigProvider;
import org.jboss.logging.Logger;

/**
 * The answer to a request Vert.x could not decode, which never reaches the router: a request line over
 * {@code quarkus.http.limits.max-initial-line-length} (414), headers over {@code quarkus.http.limits.max-header-size}
 * (431), or a malformed request such as a Content-Length that is not a number (400). An OpenAI-shaped error naming
 * the limit or the problem, then the connection is closed (what follows on it cannot be framed).
 */
@ApplicationScoped
public class MalformedRequests {
    private static final Logger LOG = Logger.getLogger(MalformedRequests.class);

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
        LOG.debugf("refused an undecodable request with %d: %s", status, ClientText.forLog(cause));
        HttpServerResponse response = request.response();
        response.putHeader("Connection", "close");
        HttpErrors.sendJson(response, status, OpenAiJson.error(message, "invalid_request_error", null, code));
        request.connection().close();
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
