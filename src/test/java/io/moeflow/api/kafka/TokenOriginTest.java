package io.moeflow.api.kafka;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import io.moeflow.api.RequestParser;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.regex.Pattern;
import org.apache.kafka.common.header.internals.RecordHeader;
import org.junit.jupiter.api.Test;

class TokenOriginTest {
    private static final String VALID = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

    /** W3C Trace Context's own examples of valid and invalid values. */
    @Test
    void onlyValidTraceparentsAreKept() {
        assertEquals(VALID, TokenOrigin.validTraceparent(VALID));
        for (String bad : new String[] {null, "", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01\nERROR x",
                "00-00000000000000000000000000000000-00f067aa0ba902b7-01", "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
                "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01", "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
                "00-4bf92f3577b34da6a3ce929d0e0e473-00f067aa0ba902b7-01"}) {
            assertNull(TokenOrigin.validTraceparent(bad), bad);
        }
    }

    /** The headers written are those of the published schema, with values it allows. */
    @Test
    void headersMatchThePublishedSchema() throws Exception {
        JsonNode schema = RequestParser.JSON.readTree(Files.readString(Path.of("kafka-topics/schemas/token-event-headers.schema.json")));
        TokenOrigin origin = TokenOrigin.kafka("moeflow.prompts", 3, 42, VALID).replayed();
        Map<String, String> headers = new LinkedHashMap<>();
        for (RecordHeader h : origin.headers("req-1")) headers.put(h.key(), new String(h.value(), StandardCharsets.UTF_8));
        assertEquals(Map.of("content-type", "application/json", "moeflow-request-id", "req-1", "traceparent", VALID,
                "moeflow-prompt-record", "moeflow.prompts-3@42", "moeflow-replay", "true"), headers);
        JsonNode properties = schema.get("properties");
        headers.forEach((name, value) -> {
            JsonNode p = properties.get(name);
            assertTrue(p != null, name + " is not in the schema");
            if (p.has("const")) assertEquals(p.get("const").asText(), value, name);
            if (p.has("pattern")) assertTrue(Pattern.matches(p.get("pattern").asText(), value), name + ": " + value);
        });
        schema.get("required").forEach(r -> assertTrue(headers.containsKey(r.asText()), r.asText()));
        Map<String, String> http = new LinkedHashMap<>();
        for (RecordHeader h : TokenOrigin.http(null).headers("cmpl-1")) http.put(h.key(), new String(h.value(), StandardCharsets.UTF_8));
        assertEquals(Map.of("content-type", "application/json", "moeflow-request-id", "cmpl-1"), http);
    }
}
