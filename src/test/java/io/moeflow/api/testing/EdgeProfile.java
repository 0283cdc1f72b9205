package io.moeflow.api.testing;

import io.quarkus.test.junit.QuarkusTestProfile;
import java.util.Map;

/**
 * The service with the HTTP edge configured: an API key and a separate metrics key, CORS for one origin, and short
 * header and body timeouts so that slow-client tests finish in seconds.
 */
public class EdgeProfile implements QuarkusTestProfile {
    public static final String API_KEY = "edge-test-key";
    public static final String METRICS_KEY = "edge-metrics-key";
    public static final String ALLOWED_ORIGIN = "https://allowed.example";
    public static final long HEADER_TIMEOUT_MS = 2000;
    public static final long BODY_TIMEOUT_MS = 2000;

    @Override
    public Map<String, String> getConfigOverrides() {
        return Map.of("moeflow.api-key", API_KEY,
                "moeflow.http.metrics-key", METRICS_KEY,
                "moeflow.http.cors.origins", ALLOWED_ORIGIN,
                "moeflow.http.header-timeout", HEADER_TIMEOUT_MS + "ms",
                "moeflow.http.body-timeout", BODY_TIMEOUT_MS + "ms");
    }
}
