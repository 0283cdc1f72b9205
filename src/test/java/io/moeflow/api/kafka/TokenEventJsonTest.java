package io.moeflow.api.kafka;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import io.moeflow.api.RequestParser;
import io.moeflow.scheduler.FinishReason;
import io.moeflow.scheduler.TokenEvent;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import org.junit.jupiter.api.Test;

class TokenEventJsonTest {
    private static final List<TokenEvent> EVENTS = List.of(
            new TokenEvent("a", 0, 17, "Once", null, null, null, null),
            new TokenEvent("a", 1, 2, "", FinishReason.STOP, new TokenEvent.Usage(4, 2), null, null),
            new TokenEvent("c", 0, 7, " the", null, null, null, null,
                    new io.moeflow.engine.TokenLogprobs(7, -0.25, new int[] {7, 3}, new double[] {-0.25, -1.5})),
            new TokenEvent("b", 0, -1, "", FinishReason.ERROR, new TokenEvent.Usage(0, 0), "invalid_request", "prompt is empty"));

    @Test
    void roundTrips() {
        for (TokenEvent e : EVENTS) assertEquals(e, TokenEventJson.parse(TokenEventJson.toString(e)));
    }

    /** Every field written is described by the published schema, and every required one is written. */
    @Test
    void matchesThePublishedSchema() throws Exception {
        JsonNode schema = RequestParser.JSON.readTree(Files.readString(Path.of("kafka-topics/schemas/token-event.schema.json")));
        Set<String> properties = new HashSet<>();
        schema.get("properties").fieldNames().forEachRemaining(properties::add);
        for (TokenEvent e : EVENTS) {
            JsonNode json = TokenEventJson.toJson(e, e.last() ? "Once" : null);
            json.fieldNames().forEachRemaining(f -> assertTrue(properties.contains(f), f + " is not in the schema"));
            schema.get("required").forEach(r -> assertTrue(json.has(r.asText()), r.asText() + " missing from " + json));
            String finish = json.get("finish_reason").isNull() ? null : json.get("finish_reason").asText();
            boolean allowed = false;
            for (JsonNode v : schema.at("/properties/finish_reason/enum")) allowed |= v.isNull() ? finish == null : v.asText().equals(finish);
            assertTrue(allowed, "finish_reason " + finish);
        }
    }
}
