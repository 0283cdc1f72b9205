package io.moeflow.api.http;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;

/** The rules of AccessControl as functions: which key a path needs, same origin, and when listening is refused. */
class AccessRulesTest {
    @Test
    void probesAndThePageAreOpenMetricsAndTheApiAreGuarded() {
        for (String open : new String[] {"/health", "/q/health", "/q/health/ready", "/", "/index.html", "/playground.js"}) {
            assertEquals(AccessControl.Guard.OPEN, AccessControl.guard(open), open);
        }
        for (String metrics : new String[] {"/metrics", "/q/metrics", "/q/metrics/x"}) {
            assertEquals(AccessControl.Guard.METRICS_KEY, AccessControl.guard(metrics), metrics);
        }
        for (String api : new String[] {"/v1", "/v1/models", "/v1/requests/x/events", "/q", "/q/info", "/q/healthy",
                "/apply-template", "/tokenize", "/detokenize"}) {
            assertEquals(AccessControl.Guard.API_KEY, AccessControl.guard(api), api);
        }
    }

    @Test
    void sameOriginComparesHostAndPort() {
        assertTrue(AccessControl.sameOrigin("http://localhost:8080", "localhost:8080"));
        assertTrue(AccessControl.sameOrigin("http://LOCALHOST:8080", "localhost:8080"));
        assertTrue(AccessControl.sameOrigin("http://example.com", "example.com:80"));
        assertTrue(AccessControl.sameOrigin("https://example.com", "example.com"));
        assertTrue(AccessControl.sameOrigin("http://[::1]:8080", "[::1]:8080"));
        assertFalse(AccessControl.sameOrigin("http://localhost:8081", "localhost:8080"));
        assertFalse(AccessControl.sameOrigin("https://evil.example", "localhost:8080"));
        assertFalse(AccessControl.sameOrigin("null", "localhost:8080"));
        assertFalse(AccessControl.sameOrigin("http://localhost:8080", null));
        assertFalse(AccessControl.sameOrigin("::::", "localhost"));
    }

    @Test
    void listeningBeyondLoopbackNeedsAKeyOrAnExplicitYes() {
        for (String loopback : new String[] {"127.0.0.1", "127.1.2.3", "localhost", "::1", "[::1]"}) {
            assertNull(AccessControl.exposureRefusal(loopback, false, false), loopback);
        }
        for (String remote : new String[] {"0.0.0.0", "::", "10.0.0.5", "my-host.example", ""}) {
            String refusal = AccessControl.exposureRefusal(remote, false, false);
            assertNotNull(refusal, remote);
            assertTrue(refusal.contains("moeflow.api-key") && refusal.contains("moeflow.http.allow-remote-without-key"), refusal);
            assertNull(AccessControl.exposureRefusal(remote, true, false), remote + " with a key");
            assertNull(AccessControl.exposureRefusal(remote, false, true), remote + " allowed");
        }
    }

    @Test
    void routePatternsMatchAsVertxDoes() {
        assertTrue(HttpErrors.matches("/v1/models", true, "/v1/models"));
        assertFalse(HttpErrors.matches("/v1/models", true, "/v1/models/x"));
        assertTrue(HttpErrors.matches("/v1/requests/:id/events", true, "/v1/requests/abc/events"));
        assertFalse(HttpErrors.matches("/v1/requests/:id/events", true, "/v1/requests/a/b/events"));
        assertTrue(HttpErrors.matches("/q/", false, "/q/metrics"));
        assertFalse(HttpErrors.matches("/v1.models", true, "/v1xmodels"), "a dot is a dot");
    }
}
