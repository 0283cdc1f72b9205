package io.moeflow.api.http;

import static io.restassured.RestAssured.given;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.moeflow.api.RequestParser;
import io.moeflow.api.testing.ScriptedModelProfile;
import io.moeflow.api.testing.ScriptedModelRuntime;
import io.moeflow.api.testing.Sse;
import io.quarkus.test.junit.QuarkusTest;
import io.quarkus.test.junit.TestProfile;
import io.restassured.http.ContentType;
import io.restassured.response.Response;
import jakarta.inject.Inject;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import org.junit.jupiter.api.Test;

/**
 * Tool calls and reasoning end to end: the real chat template of each family renders the request, the real batch
 * scheduler runs a {@link io.moeflow.api.testing.ScriptedModel} that emits, token by token, the text that family's
 * models write (its special tokens as single tokens, the rest byte by byte), and the HTTP answer must carry the
 * parsed reply; the same request streamed must add up, delta by delta, to the same message.
 */
@QuarkusTest
@TestProfile(ScriptedModelProfile.class)
class ToolCallsHttpTest {
    static final String TOOLS = "[{\"type\":\"function\",\"function\":{\"name\":\"get_weather\",\"description\":\"Weather in a city\","
            + "\"parameters\":{\"type\":\"object\",\"properties\":{\"city\":{\"type\":\"string\"}},\"required\":[\"city\"]}}}]";
    static final String ASK = "\"messages\":[{\"role\":\"user\",\"content\":\"Weather in Paris?\"}]";
    static final String WEATHER = "{\"city\":\"Paris\"}";

    @Inject
    ScriptedModelRuntime model;

    static String template(String file) throws IOException {
        try (InputStream in = ToolCallsHttpTest.class.getResourceAsStream("/chat-templates/templates/" + file)) {
            return new String(in.readAllBytes(), StandardCharsets.UTF_8);
        }
    }

    static JsonNode post(String body) throws IOException {
        Response r = given().contentType(ContentType.JSON).body(body).when().post("/v1/chat/completions");
        assertEquals(200, r.statusCode(), r.asString());
        return RequestParser.JSON.readTree(r.asString());
    }

    /** The message of the whole answer, checked against the streamed answer put together as the OpenAI SDKs do. */
    static JsonNode message(String fields) throws IOException {
        JsonNode whole = post("{" + fields + "}");
        Response r = given().contentType(ContentType.JSON).body("{" + fields + ",\"stream\":true}").when().post("/v1/chat/completions");
        assertEquals(200, r.statusCode(), r.asString());
        ObjectNode assembled = JsonNodeFactory.instance.objectNode();
        StringBuilder content = new StringBuilder();
        StringBuilder reasoning = new StringBuilder();
        ArrayNode calls = JsonNodeFactory.instance.arrayNode();
        String finish = null;
        for (String data : Sse.data(r.asString())) {
            if (data.equals("[DONE]")) continue;
            JsonNode choice = RequestParser.JSON.readTree(data).path("choices").path(0);
            JsonNode delta = choice.path("delta");
            if (delta.has("content")) content.append(delta.get("content").asText());
            if (delta.has("reasoning_content")) reasoning.append(delta.get("reasoning_content").asText());
            for (JsonNode call : delta.path("tool_calls")) {
                int index = call.get("index").asInt();
                if (index == calls.size()) {
                    ObjectNode c = calls.addObject();
                    c.put("id", call.get("id").asText());
                    c.put("type", call.get("type").asText());
                    c.putObject("function").put("name", call.path("function").get("name").asText()).put("arguments", "");
                }
                ObjectNode f = (ObjectNode) calls.get(index).get("function");
                f.put("arguments", f.get("arguments").asText() + call.path("function").path("arguments").asText(""));
            }
            if (!choice.path("finish_reason").isNull() && !choice.path("finish_reason").isMissingNode()) {
                finish = choice.get("finish_reason").asText();
            }
        }
        JsonNode message = whole.path("choices").path(0).path("message");
        assertEquals(message.path("content").asText(""), content.toString(), "streamed content");
        assertEquals(message.path("reasoning_content").asText(""), reasoning.toString(), "streamed reasoning");
        // two requests, two request ids: generated call ids differ (ids the model wrote, as Kimi's and Mistral's, do not)
        JsonNode wholeCalls = message.path("tool_calls").isMissingNode() ? JsonNodeFactory.instance.arrayNode() : message.get("tool_calls");
        assertEquals(wholeCalls.size(), calls.size(), "streamed tool calls: " + calls);
        for (int i = 0; i < calls.size(); i++) {
            ObjectNode expected = ((ObjectNode) wholeCalls.get(i)).deepCopy();
            ObjectNode got = ((ObjectNode) calls.get(i)).deepCopy();
            if (expected.get("id").asText().startsWith("call_")) {
                assertTrue(got.get("id").asText().matches("call_[A-Za-z0-9]{24}"), got.toString());
                expected.remove("id");
                got.remove("id");
            }
            assertEquals(expected, got, "streamed tool call " + i);
        }
        assertEquals(whole.path("choices").path(0).path("finish_reason").asText(), finish, "streamed finish_reason");
        ((ObjectNode) message).put("finish_reason", finish);
        return message;
    }

    static void assertCall(JsonNode message, String name, String arguments) {
        assertEquals("tool_calls", message.get("finish_reason").asText(), message.toString());
        assertTrue(message.get("content").isNull(), "content is null for an answer of calls only: " + message);
        JsonNode call = message.path("tool_calls").path(0);
        assertEquals("function", call.get("type").asText());
        assertFalse(call.get("id").asText().isEmpty());
        assertEquals(name, call.path("function").get("name").asText());
        assertEquals(arguments, call.path("function").get("arguments").asText());
    }

    @Test
    void qwen3ReasoningAndACallWithItsTagSplitOverTokens() throws IOException {
        model.template(template("Qwen-Qwen3-0.6B.jinja"));
        // "<tool_call>" as four ordinary tokens and "</tool_call>" as its own token: either way the content stays clean
        int[] script = model.generate("<|im_end|>", "<think>\nThe user wants the weather.\n</think>\n\n<tool_", "call>\n{\"name\": \"get_weather\","
                + " \"arguments\": {\"city\": \"Paris\"}}\n</tool_call>");
        assertTrue(script.length > 60, "the markup is generated token by token");
        JsonNode m = message(ASK + ",\"tools\":" + TOOLS + ",\"max_tokens\":200");
        assertEquals("The user wants the weather.", m.get("reasoning_content").asText());
        assertCall(m, "get_weather", WEATHER);
    }

    @Test
    void qwen3CallRoundTripsIntoTheTemplate() throws IOException {
        model.template(template("Qwen-Qwen3-0.6B.jinja"));
        model.generate("<|im_end|>", "<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Paris\"}}\n</tool_call>");
        JsonNode call = post("{" + ASK + ",\"tools\":" + TOOLS + "}").path("choices").path(0).path("message").path("tool_calls").path(0);
        String next = "{\"messages\":[{\"role\":\"user\",\"content\":\"Weather in Paris?\"},{\"role\":\"assistant\",\"content\":null,"
                + "\"tool_calls\":[" + call + "]},{\"role\":\"tool\",\"tool_call_id\":\"" + call.get("id").asText() + "\",\"content\":\"22 C\"}],"
                + "\"tools\":" + TOOLS + "}";
        String prompt = given().contentType(ContentType.JSON).body(next).when().post("/apply-template").then().statusCode(200)
                .extract().jsonPath().getString("prompt");
        // as the template writes an earlier call and its result (ChatTemplateFidelityTest checks such renderings against jinja2)
        assertTrue(prompt.contains("<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Paris\"}}\n</tool_call>"), prompt);
        assertTrue(prompt.contains("<tool_response>\n22 C\n</tool_response>"), prompt);
    }

    @Test
    void gptOssAnalysisThenACommentaryCall() throws IOException {
        model.template(template("openai-gpt-oss-120b.jinja"));
        model.generate("<|call|>", "<|channel|>analysis<|message|>Need the weather tool.<|end|><|start|>assistant<|channel|>commentary"
                + " to=functions.get_weather <|constrain|>json<|message|>{\"city\":\"Paris\"}");
        JsonNode m = message(ASK + ",\"tools\":" + TOOLS);
        assertEquals("Need the weather tool.", m.get("reasoning_content").asText());
        assertCall(m, "get_weather", WEATHER);
    }

    @Test
    void gptOssFinalChannelIsTheContent() throws IOException {
        model.template(template("openai-gpt-oss-120b.jinja"));
        model.generate("<|return|>", "<|channel|>analysis<|message|>Greet back.<|end|><|start|>assistant<|channel|>final<|message|>Hello there!");
        JsonNode m = message(ASK);
        assertEquals("Greet back.", m.get("reasoning_content").asText());
        assertEquals("Hello there!", m.get("content").asText());
        assertEquals("stop", m.get("finish_reason").asText());
        // reasoning_format "none": the analysis stays in the content as generated
        JsonNode inline = message(ASK + ",\"reasoning_format\":\"none\"");
        assertEquals("<|channel|>analysis<|message|>Greet back.<|end|>Hello there!", inline.get("content").asText());
        assertTrue(inline.path("reasoning_content").isMissingNode(), inline.toString());
    }

    @Test
    void deepSeekV31ThinkingOpenedByThePromptAndControlTokenMarkers() throws IOException {
        model.template(template("deepseek-ai-DeepSeek-V3.1.jinja"));
        // thinking: the generation prompt ends with "<think>", so the text starts as reasoning; the call markers
        // are control tokens, which add no text of their own and are written out for the parser
        model.generate("<｜end▁of▁sentence｜>", "Paris: call the tool.</think><｜tool▁calls▁begin｜><｜tool▁call▁begin｜>get_weather<｜tool▁sep｜>"
                + "{\"city\": \"Paris\"}<｜tool▁call▁end｜><｜tool▁calls▁end｜>");
        JsonNode m = message(ASK + ",\"tools\":" + TOOLS + ",\"chat_template_kwargs\":{\"thinking\":true}");
        assertEquals("Paris: call the tool.", m.get("reasoning_content").asText());
        assertCall(m, "get_weather", WEATHER);
    }

    @Test
    void kimiK2Call() throws IOException {
        model.template(template("moonshotai-Kimi-K2.jinja"));
        model.generate("<|im_end|>", "<|tool_calls_section_begin|><|tool_call_begin|>functions.get_weather:0<|tool_call_argument_begin|>"
                + "{\"city\": \"Paris\"}<|tool_call_end|><|tool_calls_section_end|>");
        JsonNode m = message(ASK + ",\"tools\":" + TOOLS);
        assertCall(m, "get_weather", WEATHER);
        assertEquals("functions.get_weather:0", m.path("tool_calls").path(0).get("id").asText());
    }

    @Test
    void mistralCall() throws IOException {
        model.template(template("mistralai-Mistral-Nemo-Instruct-2407.jinja"));
        model.generate("</s>", "[TOOL_CALLS][{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Paris\"}, \"id\": \"a1b2c3d4e\"}]");
        JsonNode m = message(ASK + ",\"tools\":" + TOOLS);
        assertCall(m, "get_weather", WEATHER);
        assertEquals("a1b2c3d4e", m.path("tool_calls").path(0).get("id").asText());
    }

    @Test
    void aMalformedCallIsReturnedAsContent() throws IOException {
        model.template(template("Qwen-Qwen3-0.6B.jinja"));
        String bad = "<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\": Paris}}\n</tool_call>";
        model.generate("<|im_end|>", bad);
        JsonNode m = message(ASK + ",\"tools\":" + TOOLS);
        assertEquals(bad, m.get("content").asText());
        assertTrue(m.path("tool_calls").isMissingNode(), m.toString());
        assertEquals("stop", m.get("finish_reason").asText());
    }

    @Test
    void toolChoiceNoneLeavesTheCallTextInTheContent() throws IOException {
        model.template(template("Qwen-Qwen3-0.6B.jinja"));
        String call = "<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Paris\"}}\n</tool_call>";
        model.generate("<|im_end|>", call);
        JsonNode m = message(ASK + ",\"tools\":" + TOOLS + ",\"tool_choice\":\"none\"");
        assertEquals(call, m.get("content").asText());
        assertEquals("stop", m.get("finish_reason").asText());
    }

    @Test
    void toolChoiceRequiredAndNamedForceACall() throws IOException {
        model.template(template("Qwen-Qwen3-0.6B.jinja"));
        String named = ",\"tool_choice\":{\"type\":\"function\",\"function\":{\"name\":\"get_weather\"}}";
        // the model's own call keeps to the grammar token by token (a token outside it would end in an error)
        model.generate("<|im_end|>", "<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Paris\"}}\n</tool_call>");
        assertCall(message(ASK + ",\"tools\":" + TOOLS + named), "get_weather", WEATHER);
        // a model that wants to answer in words is made to start the call: its preferred tokens are masked
        model.generate("<|im_end|>", "Hello! No tool is needed.");
        JsonNode forced = post("{" + ASK + ",\"tools\":" + TOOLS + ",\"tool_choice\":\"required\",\"temperature\":0,\"max_tokens\":48}")
                .path("choices").path(0);
        String text = forced.path("message").path("content").asText();
        // (a flat choice among the allowed tokens takes the grammar's whitespace, so the call does not finish)
        assertTrue(text.startsWith("<tool_call>\n{\"name\": \"get_weather\", \"arguments\":"), text);
        assertFalse(text.contains("Hello"), text);
        assertEquals("length", forced.get("finish_reason").asText(), "cut by max_tokens inside the forced call: " + forced);
        // gpt-oss: the call in harmony syntax, at once
        model.template(template("openai-gpt-oss-120b.jinja"));
        model.generate("<|call|>", "<|channel|>commentary to=functions.get_weather <|constrain|>json<|message|>{\"city\":\"Paris\"}");
        assertCall(message(ASK + ",\"tools\":" + TOOLS + ",\"tool_choice\":\"required\""), "get_weather", WEATHER);
        // Kimi's markers are control tokens here: under the grammar they are spelled with ordinary tokens
        model.template(template("moonshotai-Kimi-K2.jinja"));
        model.generate("<|im_end|>", "<|tool_calls_section_begin|>", "ignored: the grammar decides");
        JsonNode kimi = post("{" + ASK + ",\"tools\":" + TOOLS + named + ",\"temperature\":0,\"max_tokens\":100}").path("choices").path(0);
        assertTrue(kimi.path("message").path("content").asText("").startsWith("<|tool_calls_section_begin|><|tool_call_begin|>functions.get_weather:0"
                + "<|tool_call_argument_begin|>"), kimi.toString());
        // a function that is not among the tools
        model.template(template("Qwen-Qwen3-0.6B.jinja"));
        Response nope = given().contentType(ContentType.JSON).body("{" + ASK + ",\"tools\":" + TOOLS
                + ",\"tool_choice\":{\"type\":\"function\",\"function\":{\"name\":\"nope\"}}}").when().post("/v1/chat/completions");
        assertEquals(400, nope.statusCode(), nope.asString());
        assertTrue(nope.jsonPath().getString("error.param").startsWith("tool_choice"), nope.asString());
        // a template without call syntax: the tools themselves are refused, whatever would use them (never ignored)
        model.template(null);
        for (String choice : new String[] {"\"auto\"", "\"required\"", "{\"type\":\"function\",\"function\":{\"name\":\"get_weather\"}}"}) {
            Response r = given().contentType(ContentType.JSON).body("{" + ASK + ",\"tools\":" + TOOLS + ",\"tool_choice\":" + choice + "}")
                    .when().post("/v1/chat/completions");
            assertEquals(400, r.statusCode(), r.asString());
            assertEquals("tools", r.jsonPath().getString("error.param"), r.asString());
            assertEquals("unsupported_parameter", r.jsonPath().getString("error.code"), r.asString());
        }
        Response none = given().contentType(ContentType.JSON).body("{" + ASK + ",\"tools\":" + TOOLS + ",\"tool_choice\":\"none\"}")
                .when().post("/v1/chat/completions");
        assertEquals(200, none.statusCode(), none.asString());
    }

    @Test
    void eachOfNChoicesIsReadWithItsOwnCallIds() throws IOException {
        model.template(template("Qwen-Qwen3-0.6B.jinja"));
        model.generate("<|im_end|>", "<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Paris\"}}\n</tool_call>");
        JsonNode choices = post("{" + ASK + ",\"tools\":" + TOOLS + ",\"n\":2}").get("choices");
        assertEquals(2, choices.size());
        for (JsonNode c : choices) {
            assertEquals("tool_calls", c.get("finish_reason").asText());
            assertEquals(WEATHER, c.path("message").path("tool_calls").path(0).path("function").get("arguments").asText());
        }
        assertFalse(choices.get(0).path("message").path("tool_calls").path(0).get("id").asText()
                .equals(choices.get(1).path("message").path("tool_calls").path(0).get("id").asText()), choices.toString());
    }

    @Test
    void parallelToolCallsFalseKeepsTheFirstCall() throws IOException {
        model.template(template("Qwen-Qwen3-0.6B.jinja"));
        model.generate("<|im_end|>", "<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Paris\"}}\n</tool_call>\n"
                + "<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Oslo\"}}\n</tool_call>");
        assertEquals(2, message(ASK + ",\"tools\":" + TOOLS).get("tool_calls").size());
        JsonNode one = message(ASK + ",\"tools\":" + TOOLS + ",\"parallel_tool_calls\":false");
        assertEquals(1, one.get("tool_calls").size());
        assertCall(one, "get_weather", WEATHER);
    }
}
