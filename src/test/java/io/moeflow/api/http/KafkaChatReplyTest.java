package io.moeflow.api.http;

import static io.moeflow.api.http.ToolCallsHttpTest.ASK;
import static io.moeflow.api.http.ToolCallsHttpTest.TOOLS;
import static io.moeflow.api.http.ToolCallsHttpTest.WEATHER;
import static io.moeflow.api.http.ToolCallsHttpTest.template;
import static io.restassured.RestAssured.given;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.moeflow.api.RequestParser;
import io.moeflow.api.kafka.TokenEventJson;
import io.moeflow.api.kafka.TokenEventTail;
import io.moeflow.api.testing.KafkaClient;
import io.moeflow.api.testing.KafkaServiceTest;
import io.moeflow.api.testing.ScriptedModelProfile;
import io.moeflow.api.testing.ScriptedModelRuntime;
import io.moeflow.scheduler.FinishReason;
import io.moeflow.scheduler.TokenEvent;
import io.quarkus.test.junit.QuarkusTest;
import io.quarkus.test.junit.TestProfile;
import io.restassured.http.ContentType;
import io.restassured.response.Response;
import jakarta.inject.Inject;
import java.io.IOException;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.UUID;
import java.util.concurrent.TimeUnit;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.junit.jupiter.api.Test;

/**
 * A Kafka chat prompt's last token event carries its reply parsed as the HTTP chat answer's message is (same
 * template, same scripted tokens, same parser): content, reasoning_content, tool_calls and finish_reason. The
 * per-token events stay the raw generated text. Forcing a call (tool_choice "required" / named) works on Kafka as on
 * HTTP, and what HTTP refuses with a 400 a Kafka prompt gets as an error event with the same message.
 */
@QuarkusTest
@TestProfile(ScriptedModelProfile.class)
class KafkaChatReplyTest extends KafkaServiceTest {
    @Inject
    ScriptedModelRuntime model;
    @Inject
    TokenEventTail tail;

    /** The JSON of every event of the prompt {@code fields} sent as a Kafka record, the last one last. */
    private List<JsonNode> kafkaEvents(String fields) throws IOException {
        String id = "chat-" + UUID.randomUUID();
        kafka.produce(prompts(), id, "{\"id\":\"" + id + "\"," + fields + "}");
        List<JsonNode> events = new ArrayList<>();
        for (ConsumerRecord<String, String> r : kafka.tokenRecords(tokens(), Set.of(id), 1).get(id)) {
            events.add(RequestParser.JSON.readTree(r.value()));
        }
        JsonNode last = events.getLast();
        assertFalse(last.path("finish_reason").isNull(), "last event last: " + events);
        return events;
    }

    /** The HTTP answer's message (whole and streamed agreeing) equals the Kafka prompt's last event, call ids aside. */
    private JsonNode assertSameReply(String fields) throws IOException {
        JsonNode http = ToolCallsHttpTest.message(fields);
        List<JsonNode> events = kafkaEvents(fields);
        JsonNode last = events.getLast();
        for (JsonNode e : events.subList(0, events.size() - 1)) {
            assertFalse(e.has("content") || e.has("tool_calls") || e.has("reasoning_content"), "per-token events are raw text: " + e);
        }
        assertEquals(http.get("finish_reason").asText(), last.get("finish_reason").asText(), last.toString());
        assertEquals(http.get("content"), last.get("content"), "content: " + last);
        assertEquals(http.path("reasoning_content"), last.path("reasoning_content"), "reasoning_content: " + last);
        JsonNode httpCalls = http.path("tool_calls");
        JsonNode kafkaCalls = last.path("tool_calls");
        assertEquals(httpCalls.size(), kafkaCalls.size(), last.toString());
        for (int i = 0; i < httpCalls.size(); i++) {
            ObjectNode expected = ((ObjectNode) httpCalls.get(i)).deepCopy();
            ObjectNode got = ((ObjectNode) kafkaCalls.get(i)).deepCopy();
            // generated ids derive from the request id, which differs between the two requests
            assertTrue(got.get("id").asText().matches("call_[A-Za-z0-9]{24}"), got.toString());
            expected.remove("id");
            got.remove("id");
            assertEquals(expected, got, "tool call " + i);
        }
        // read back as a consumer does: the engine's event, and the same reply
        String json = last.toString();
        TokenEvent parsed = TokenEventJson.parse(json);
        assertTrue(parsed.last());
        assertEquals(last.get("content").asText(""), TokenEventJson.reply(json).content());
        assertEquals(kafkaCalls.size(), TokenEventJson.reply(json).toolCalls().size());
        return last;
    }

    @Test
    void qwen3ReasoningAndACallComeParsedOnTheLastEvent() throws IOException {
        model.template(template("Qwen-Qwen3-0.6B.jinja"));
        model.generate("<|im_end|>", "<think>\nThe user wants the weather.\n</think>\n\n<tool_", "call>\n{\"name\": \"get_weather\","
                + " \"arguments\": {\"city\": \"Paris\"}}\n</tool_call>");
        JsonNode last = assertSameReply(ASK + ",\"tools\":" + TOOLS + ",\"max_tokens\":200");
        assertEquals("tool_calls", last.get("finish_reason").asText());
        assertEquals("The user wants the weather.", last.get("reasoning_content").asText());
        assertTrue(last.get("content").isNull(), last.toString());
        assertEquals("get_weather", last.at("/tool_calls/0/function/name").asText());
        assertEquals(WEATHER, last.at("/tool_calls/0/function/arguments").asText());
        // the raw text is still there, as generated
        assertTrue(last.get("full_text").asText().contains("\"arguments\": {\"city\": \"Paris\"}"), last.toString());
        assertEquals(FinishReason.STOP, TokenEventJson.parse(last.toString()).finish(), "the engine stopped by itself");
    }

    @Test
    void replyFieldsAreTheHttpOnes() throws IOException {
        // harmony: analysis channel as reasoning, final channel as content; reasoning_format "none" keeps it inline
        model.template(template("openai-gpt-oss-120b.jinja"));
        model.generate("<|return|>", "<|channel|>analysis<|message|>Greet back.<|end|><|start|>assistant<|channel|>final<|message|>Hello there!");
        JsonNode last = assertSameReply(ASK);
        assertEquals("Hello there!", last.get("content").asText());
        assertEquals("Greet back.", last.get("reasoning_content").asText());
        assertEquals("stop", last.get("finish_reason").asText());
        JsonNode inline = assertSameReply(ASK + ",\"reasoning_format\":\"none\"");
        assertEquals("<|channel|>analysis<|message|>Greet back.<|end|>Hello there!", inline.get("content").asText());
        assertFalse(inline.has("reasoning_content"), inline.toString());
        // parallel_tool_calls false keeps the first call; tool_choice none leaves the call text in the content
        model.template(template("Qwen-Qwen3-0.6B.jinja"));
        model.generate("<|im_end|>", "<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Paris\"}}\n</tool_call>\n"
                + "<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Rome\"}}\n</tool_call>");
        assertEquals(2, assertSameReply(ASK + ",\"tools\":" + TOOLS).get("tool_calls").size());
        assertEquals(1, assertSameReply(ASK + ",\"tools\":" + TOOLS + ",\"parallel_tool_calls\":false").get("tool_calls").size());
        JsonNode none = assertSameReply(ASK + ",\"tools\":" + TOOLS + ",\"tool_choice\":\"none\"");
        assertTrue(none.get("content").asText().contains("<tool_call>"), none.toString());
        assertEquals("stop", none.get("finish_reason").asText());
    }

    @Test
    void toolChoiceRequiredAndNamedForceTheCallOnKafka() throws IOException {
        model.template(template("Qwen-Qwen3-0.6B.jinja"));
        // a model that wants to answer in words is made to start the call: the constraint masks the raw output
        model.generate("<|im_end|>", "Hello! No tool is needed.");
        List<JsonNode> forced = kafkaEvents(ASK + ",\"tools\":" + TOOLS + ",\"tool_choice\":\"required\",\"temperature\":0,\"max_tokens\":48");
        String text = forced.getLast().get("full_text").asText();
        assertTrue(text.startsWith("<tool_call>\n{\"name\": \"get_weather\", \"arguments\":"), text);
        assertFalse(text.contains("Hello"), text);
        assertEquals("length", forced.getLast().get("finish_reason").asText(), "cut inside the forced call: " + forced.getLast());
        // a call the grammar allows token by token comes back parsed, as over HTTP
        model.generate("<|im_end|>", "<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Paris\"}}\n</tool_call>");
        JsonNode named = assertSameReply(ASK + ",\"tools\":" + TOOLS + ",\"tool_choice\":{\"type\":\"function\",\"function\":{\"name\":\"get_weather\"}}");
        assertEquals("tool_calls", named.get("finish_reason").asText());
        assertEquals(WEATHER, named.at("/tool_calls/0/function/arguments").asText());
    }

    /**
     * A chat prompt cut off after k published events (the reasoning's opening among them) resumes after them, and its
     * last event still carries the whole reply: the published events' text is read again with the rest.
     */
    @Test
    void aResumedChatPromptStillCarriesTheWholeReply() throws Exception {
        model.template(template("Qwen-Qwen3-0.6B.jinja"));
        model.generate("<|im_end|>", "<think>\nThe user wants the weather.\n</think>\n\n<tool_call>\n{\"name\": \"get_weather\","
                + " \"arguments\": {\"city\": \"Paris\"}}\n</tool_call>");
        String fields = ASK + ",\"tools\":" + TOOLS + ",\"max_tokens\":200";
        List<JsonNode> whole = kafkaEvents(fields);
        int k = 12;
        assertTrue(whole.size() > 2 * k, "a long enough generation: " + whole.size());
        String cut = "cut-" + UUID.randomUUID();
        try (KafkaProducer<String, String> producer = KafkaClient.stringProducer(bootstrap)) {
            for (JsonNode e : whole.subList(0, k)) {
                TokenEvent earlier = new TokenEvent(cut, e.get("index").asInt(), e.get("token").asInt(), e.get("text").asText(),
                        null, null, null, null);
                producer.send(new ProducerRecord<>(tokens(), cut, TokenEventJson.toString(earlier))).get();
            }
        }
        tail.sync(System.currentTimeMillis() - 60_000).get(KafkaClient.WAIT.toSeconds(), TimeUnit.SECONDS);
        assertEquals(k, tail.history().find(cut).published());
        kafka.produce(prompts(), cut, "{\"id\":\"" + cut + "\"," + fields + "}");
        List<ConsumerRecord<String, String>> records = kafka.tokenRecords(tokens(), Set.of(cut), 1).get(cut);
        JsonNode last = RequestParser.JSON.readTree(records.getLast().value());
        // the k written before and the rest, each index once: it continued after the published events
        assertEquals(whole.size(), records.size());
        for (int i = 0; i < records.size(); i++) assertEquals(i, TokenEventJson.parse(records.get(i).value()).index());
        assertEquals("The user wants the weather.", last.get("reasoning_content").asText(), last.toString());
        assertEquals("tool_calls", last.get("finish_reason").asText());
        assertEquals(whole.getLast().at("/tool_calls/0/function"), last.at("/tool_calls/0/function"));
        assertEquals(whole.getLast().get("full_text"), last.get("full_text"));
    }

    /** What HTTP refuses with a 400 a Kafka prompt gets as one error event with the same message. */
    @Test
    void refusalsAreTheHttpOnes() throws IOException {
        model.template(null); // no call syntax: a forced call is refused
        model.generate("<|im_end|>", "Hi");
        for (String fields : List.of(
                ASK + ",\"tools\":" + TOOLS + ",\"tool_choice\":\"required\"",
                ASK + ",\"tools\":" + TOOLS + ",\"tool_choice\":{\"type\":\"function\",\"function\":{\"name\":\"nope\"}}",
                ASK + ",\"tool_choice\":\"required\"",
                ASK + ",\"reasoning_format\":\"sideways\"",
                ASK + ",\"parallel_tool_calls\":\"yes\"")) {
            Response r = given().contentType(ContentType.JSON).body("{" + fields + "}").when().post("/v1/chat/completions");
            assertEquals(400, r.statusCode(), r.asString());
            JsonNode error = kafkaEvents(fields).getLast();
            assertEquals("error", error.get("finish_reason").asText(), error.toString());
            assertEquals("invalid_request", error.at("/error/code").asText());
            assertEquals(r.jsonPath().getString("error.message"), error.at("/error/message").asText(), fields);
        }
        // the reply fields need messages: a prompt record has no chat reply to read
        JsonNode prompt = kafkaEvents("\"prompt\":\"Hi\",\"reasoning_format\":\"none\"").getLast();
        assertEquals("error", prompt.get("finish_reason").asText());
        assertTrue(prompt.at("/error/message").asText().contains("reasoning_format"), prompt.toString());
        // n > 1 stays refused, saying why
        JsonNode n = kafkaEvents(ASK + ",\"n\":2").getLast();
        assertEquals("error", n.get("finish_reason").asText());
        String message = n.at("/error/message").asText();
        assertTrue(message.contains("de-duplication") && message.contains("one record per choice"), message);
    }
}
