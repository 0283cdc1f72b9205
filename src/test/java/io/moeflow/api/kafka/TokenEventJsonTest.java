package io.moeflow.api.kafka;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import io.moeflow.api.ChatMessage;
import io.moeflow.api.RequestParser;
import io.moeflow.api.chat.reply.AssistantReply;
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

    /** A chat prompt's last event with its parsed reply: written, read back as the same event and the same reply. */
    @Test
    void chatReplyRoundTrips() throws Exception {
        TokenEvent last = new TokenEvent("q", 40, 5, "", FinishReason.STOP, new TokenEvent.Usage(12, 41), null, null);
        AssistantReply reply = new AssistantReply("The user wants the weather.", "",
                List.of(new ChatMessage.ToolCall("call_abc", "get_weather", "{\"city\":\"Paris\"}")));
        String json = TokenEventJson.toString(last, "<think>...", TokenEventJson.replyFields(reply, last.finish()));
        JsonNode node = RequestParser.JSON.readTree(json);
        assertEquals("tool_calls", node.get("finish_reason").asText(), json);
        assertTrue(node.get("content").isNull(), "content null for a reply of calls only: " + json);
        assertEquals("get_weather", node.at("/tool_calls/0/function/name").asText());
        assertEquals("function", node.at("/tool_calls/0/type").asText());
        // the engine's event is read back unchanged ("tool_calls" is the reply's reading of "stop"), and so is the reply
        assertEquals(last, TokenEventJson.parse(json));
        assertEquals(reply, TokenEventJson.reply(json));
        // a reply without calls keeps the engine's finish_reason; content a string, no reasoning field when none
        AssistantReply text = new AssistantReply("", "Hello", List.of());
        TokenEvent cut = new TokenEvent("q", 3, 9, "o", FinishReason.LENGTH, new TokenEvent.Usage(12, 4), null, null);
        JsonNode plain = TokenEventJson.toJson(cut, "Hello", TokenEventJson.replyFields(text, cut.finish()));
        assertEquals("length", plain.get("finish_reason").asText());
        assertEquals("Hello", plain.get("content").asText());
        assertTrue(!plain.has("reasoning_content") && !plain.has("tool_calls"), plain.toString());
        assertEquals(text, TokenEventJson.reply(plain.toString()));
        assertEquals(null, TokenEventJson.reply(TokenEventJson.toString(cut, "Hello")), "no reply on a prompt's event");
        assertSchemaDescribes(node);
        assertSchemaDescribes(plain);
    }

    private static void assertSchemaDescribes(JsonNode json) throws Exception {
        JsonNode schema = RequestParser.JSON.readTree(Files.readString(Path.of("kafka-topics/schemas/token-event.schema.json")));
        json.fieldNames().forEachRemaining(f -> assertTrue(schema.get("properties").has(f), f + " is not in the schema"));
        boolean allowed = false;
        for (JsonNode v : schema.at("/properties/finish_reason/enum")) allowed |= v.asText().equals(json.get("finish_reason").asText());
        assertTrue(allowed, "finish_reason " + json.get("finish_reason"));
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
