package io.moeflow.api;

import static io.restassured.RestAssured.given;
import static org.hamcrest.Matchers.containsString;
import static org.hamcrest.Matchers.equalTo;
import static org.hamcrest.Matchers.greaterThan;
import static org.hamcrest.Matchers.hasKey;
import static org.hamcrest.Matchers.notNullValue;
import static org.hamcrest.Matchers.nullValue;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import io.moeflow.api.testing.ControllableEngine;
import io.moeflow.api.testing.KafkaTestResource;
import io.moeflow.api.testing.Ready;
import io.moeflow.api.testing.Sse;
import io.moeflow.api.testing.TestModelRuntime;
import io.quarkus.test.common.QuarkusTestResource;
import io.quarkus.test.junit.QuarkusTest;
import io.restassured.http.ContentType;
import io.restassured.response.Response;
import jakarta.inject.Inject;
import java.util.List;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

@QuarkusTest
@QuarkusTestResource(value = KafkaTestResource.class, restrictToAnnotatedClass = false)
class OpenAiApiTest {
    @Inject
    ModelRuntime runtime;

    private ControllableEngine control() {
        return ((TestModelRuntime) runtime).control();
    }

    @BeforeEach
    void modelLoaded() throws InterruptedException {
        Ready.await();
    }

    private static Response post(String path, String body) {
        return given().contentType(ContentType.JSON).body(body).when().post(path);
    }

    @Test
    void completionReturnsOpenAiShapeWithUsage() throws Exception {
        String body = post("/v1/completions", "{\"prompt\":\"Once upon a time\",\"max_tokens\":5,\"temperature\":0,\"seed\":7}")
                .then().statusCode(200).contentType(ContentType.JSON)
                .body("object", equalTo("text_completion"))
                .body("id", containsString("cmpl-"))
                .body("model", equalTo(runtime.modelName()))
                .body("choices[0].index", equalTo(0))
                .body("choices[0].finish_reason", equalTo("length"))
                .body("usage.completion_tokens", equalTo(5))
                .body("usage.prompt_tokens", equalTo(runtime.encode("Once upon a time", true, true).length))
                .extract().asString();
        JsonNode json = RequestParser.JSON.readTree(body);
        assertEquals(json.at("/usage/prompt_tokens").asInt() + 5, json.at("/usage/total_tokens").asInt());
        assertFalse(json.at("/choices/0/text").asText().isEmpty());
    }

    @Test
    void aRepeatedPromptReportsItsReusedBlocksAsCachedTokens() throws Exception {
        // a prompt no other test sends, long enough for several full KV blocks (16 tokens each)
        String prompt = "The tortoise " + System.nanoTime() + " walked to the river, looked at the moon and sang a long,"
                + " slow song about the stars, the trees and the little fish that swam in the cold water below";
        String body = "{\"prompt\":\"" + prompt + "\",\"max_tokens\":2,\"temperature\":0}";
        JsonNode first = RequestParser.JSON.readTree(post("/v1/completions", body).then().statusCode(200).extract().asString());
        int promptTokens = first.at("/usage/prompt_tokens").asInt();
        assertTrue(promptTokens > 33, "the prompt spans at least two full blocks: " + promptTokens);
        assertEquals(0, first.at("/usage/prompt_tokens_details/cached_tokens").asInt(), first.toString());
        JsonNode again = RequestParser.JSON.readTree(post("/v1/completions", body).then().statusCode(200).extract().asString());
        // every full block but the one holding the last prompt token (always recomputed for its logits)
        assertEquals((promptTokens - 1) / 16 * 16, again.at("/usage/prompt_tokens_details/cached_tokens").asInt(), again.toString());
        assertEquals(first.at("/choices/0/text").asText(), again.at("/choices/0/text").asText());
        String streamed = post("/v1/completions", body.replace("}", ",\"stream\":true,\"stream_options\":{\"include_usage\":true}}"))
                .then().statusCode(200).extract().asString();
        assertTrue(streamed.contains("\"cached_tokens\":" + (promptTokens - 1) / 16 * 16), streamed);
    }

    @Test
    void streamedCompletionMatchesTheWholeAnswerAndEndsWithDone() throws Exception {
        String request = "{\"prompt\":\"Once upon a time\",\"max_tokens\":6,\"temperature\":0,\"seed\":3%s}";
        String whole = post("/v1/completions", request.formatted("")).then().statusCode(200)
                .extract().path("choices[0].text");
        String body = post("/v1/completions", request.formatted(",\"stream\":true,\"stream_options\":{\"include_usage\":true}"))
                .then().statusCode(200).contentType(containsString("text/event-stream")).extract().asString();
        List<String> data = Sse.data(body);
        assertEquals("[DONE]", data.getLast());
        StringBuilder text = new StringBuilder();
        String finish = null;
        JsonNode usageChunk = RequestParser.JSON.readTree(data.get(data.size() - 2));
        for (String d : data.subList(0, data.size() - 2)) {
            JsonNode chunk = RequestParser.JSON.readTree(d);
            assertEquals("text_completion", chunk.get("object").asText());
            assertTrue(chunk.has("usage") && chunk.get("usage").isNull(), "include_usage chunks carry usage: null");
            text.append(chunk.at("/choices/0/text").asText());
            if (!chunk.at("/choices/0/finish_reason").isNull()) finish = chunk.at("/choices/0/finish_reason").asText();
        }
        assertEquals(whole, text.toString());
        assertEquals("length", finish);
        assertEquals(0, usageChunk.get("choices").size());
        assertEquals(6, usageChunk.at("/usage/completion_tokens").asInt());
    }

    @Test
    void chatCompletionWholeAndStreamed() throws Exception {
        String messages = "\"messages\":[{\"role\":\"system\",\"content\":\"Be brief.\"},{\"role\":\"user\",\"content\":\"Tell a story\"}]";
        String content = post("/v1/chat/completions", "{" + messages + ",\"max_tokens\":4,\"temperature\":0}")
                .then().statusCode(200)
                .body("object", equalTo("chat.completion"))
                .body("choices[0].message.role", equalTo("assistant"))
                .body("choices[0].message", hasKey("refusal"))
                .body("choices[0].message.refusal", nullValue())
                .body("choices[0].finish_reason", equalTo("length"))
                .body("usage.completion_tokens", equalTo(4))
                .extract().path("choices[0].message.content");
        String body = post("/v1/chat/completions", "{" + messages + ",\"max_tokens\":4,\"temperature\":0,\"stream\":true}")
                .then().statusCode(200).extract().asString();
        List<String> data = Sse.data(body);
        assertEquals("[DONE]", data.getLast());
        JsonNode first = RequestParser.JSON.readTree(data.getFirst());
        assertEquals("chat.completion.chunk", first.get("object").asText());
        assertEquals("assistant", first.at("/choices/0/delta/role").asText());
        assertFalse(first.has("usage"), "no usage field without include_usage");
        StringBuilder text = new StringBuilder();
        JsonNode last = null;
        for (String d : data.subList(0, data.size() - 1)) {
            last = RequestParser.JSON.readTree(d);
            text.append(last.at("/choices/0/delta/content").asText(""));
        }
        assertEquals(content, text.toString());
        assertEquals("length", last.at("/choices/0/finish_reason").asText());
        assertEquals(0, last.at("/choices/0/delta").size(), "the last chat chunk has an empty delta");
    }

    @Test
    void modelsListsTheServedModel() {
        given().when().get("/v1/models").then().statusCode(200)
                .body("object", equalTo("list"))
                .body("data[0].id", equalTo(runtime.modelName()))
                .body("data[0].object", equalTo("model"))
                .body("data[0].meta.n_ctx", equalTo(runtime.contextLength()));
        given().when().get("/health").then().statusCode(200).body("status", equalTo("ok"));
    }

    @Test
    void badInputGetsOpenAiShaped400NamingTheField() {
        record Case(String path, String body, String param, String message) {}
        List<Case> cases = List.of(
                new Case("/v1/completions", "{\"prompt\":\"hi\",\"max_tokens\":-1}", "max_tokens", "max_tokens must be >= 1"),
                new Case("/v1/completions", "{\"prompt\":\"hi\",\"temperature\":NaN}", "temperature", "finite"),
                new Case("/v1/completions", "{\"prompt\":\"hi\",\"temperature\":\"hot\"}", "temperature", "must be a number"),
                new Case("/v1/completions", "{\"prompt\":\"\"}", "prompt", "prompt is empty"),
                new Case("/v1/completions", "{\"max_tokens\":3}", "prompt", "\"prompt\" is required"),
                new Case("/v1/completions", "{\"prompt\":\"hi\",\"max_tokens\":1.5}", "max_tokens", "integer"),
                new Case("/v1/completions", "{\"prompt\":\"hi\",\"top_p\":0}", "top_p", "top_p must be in"),
                new Case("/v1/completions", "{\"prompt\":\"hi\",\"n\":17}", "n", "n must be at most 16 (moeflow.limits.max-choices)"),
                new Case("/v1/completions", "{\"prompt\":\"hi\",\"logit_bias\":{\"512\":1}}", "logit_bias", "outside the vocabulary"),
                new Case("/v1/completions", "{\"prompt\":\"hi\",\"stop\":[1]}", "stop", "stop must be"),
                new Case("/v1/completions", "{\"prompt\":\"hi\",\"stream\":\"yes\"}", "stream", "boolean"),
                new Case("/v1/completions", "{\"prompt\":\"" + "word ".repeat(runtime.contextLength()) + "\"}", "prompt", "context"),
                new Case("/v1/chat/completions", "{\"messages\":[]}", "messages", "messages is empty"),
                new Case("/v1/chat/completions", "{\"messages\":[{\"content\":\"hi\"}]}", "messages[0].role", "role"),
                new Case("/v1/chat/completions", "{\"messages\":\"hi\"}", "messages", "must be an array"));
        for (Case c : cases) {
            post(c.path(), c.body()).then().statusCode(400).contentType(ContentType.JSON)
                    .body("error.type", equalTo("invalid_request_error"))
                    .body("error.param", equalTo(c.param()))
                    .body("error.message", containsString(c.message()));
        }
        post("/v1/completions", "{\"prompt\": ").then().statusCode(400)
                .body("error.message", containsString("not valid JSON")).body("error.param", equalTo(null));
        post("/v1/completions", "[1,2]").then().statusCode(400).body("error.message", containsString("JSON object"));
        // still serving
        post("/v1/completions", "{\"prompt\":\"hi\",\"max_tokens\":1}").then().statusCode(200);
    }

    @Test
    void fieldsAtTheirDefaultsAreAcceptedAndUnknownOnesRefused() {
        post("/v1/completions", "{\"prompt\":\"hi\",\"max_tokens\":2,\"model\":\"whatever\",\"user\":\"x\",\"logit_bias\":{},\"n\":1}")
                .then().statusCode(200).body("usage.completion_tokens", equalTo(2));
        post("/v1/completions", "{\"prompt\":\"hi\",\"max_tokens\":2,\"frobnicate\":[1,{}]}")
                .then().statusCode(400).body("error.param", equalTo("frobnicate"))
                .body("error.code", equalTo("unknown_parameter"))
                .body("error.message", containsString("Unrecognized request argument supplied: frobnicate"));
    }

    @Test
    void fullQueueAnswers429WithRetryAfter() {
        control().setFull(true);
        try {
            post("/v1/completions", "{\"prompt\":\"hi\",\"max_tokens\":2}").then().statusCode(429)
                    .header("Retry-After", notNullValue())
                    .body("error.code", equalTo("rate_limit_exceeded"));
            post("/v1/chat/completions", "{\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}],\"stream\":true}")
                    .then().statusCode(429).header("Retry-After", equalTo("1"));
        } finally {
            control().setFull(false);
        }
        post("/v1/completions", "{\"prompt\":\"hi\",\"max_tokens\":2}").then().statusCode(200);
    }

    @Test
    void oversizedBodyIs413() {
        String big = "{\"prompt\":\"" + "a".repeat(1_100_000) + "\"}";
        post("/v1/completions", big).then().statusCode(413).body("error.code", equalTo("request_too_large"));
    }
}
