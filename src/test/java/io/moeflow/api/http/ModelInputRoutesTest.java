package io.moeflow.api.http;

import static io.restassured.RestAssured.given;
import static org.hamcrest.Matchers.containsString;
import static org.hamcrest.Matchers.equalTo;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import io.moeflow.api.ModelRuntime;
import io.moeflow.api.RequestParser;
import io.moeflow.api.testing.KafkaTestResource;
import io.moeflow.api.testing.Ready;
import io.moeflow.tokenizer.Tokenizer;
import io.quarkus.test.common.QuarkusTestResource;
import io.quarkus.test.junit.QuarkusTest;
import io.restassured.http.ContentType;
import io.restassured.response.Response;
import jakarta.inject.Inject;
import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * POST /apply-template, /tokenize and /detokenize on the bundled model (stories260K: SentencePiece, adds BOS, no
 * chat template, so llama.cpp's chatml applies).
 */
@QuarkusTest
@QuarkusTestResource(value = KafkaTestResource.class, restrictToAnnotatedClass = false)
class ModelInputRoutesTest {
    @Inject
    ModelRuntime runtime;

    @BeforeEach
    void modelLoaded() throws InterruptedException {
        Ready.await();
    }

    private static Response post(String path, String body) {
        return given().contentType(ContentType.JSON).body(body).when().post(path);
    }

    @Test
    void applyTemplateAnswersThePromptAChatCompletionWouldGet() {
        String body = """
                {"messages":[{"role":"system","content":"Be brief."},{"role":"user","content":"{{ 7*7 }} {% raw %}x"}],
                 "max_tokens":3}""";
        post("/apply-template", body).then().statusCode(200).contentType(ContentType.JSON)
                .body("prompt", equalTo("<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\n{{ 7*7 }} {% raw %}x<|im_end|>\n"
                        + "<|im_start|>assistant\n"));
        post("/apply-template", "{\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}],\"add_generation_prompt\":false}")
                .then().statusCode(200).body("prompt", equalTo("<|im_start|>user\nhi<|im_end|>\n"));
    }

    @Test
    void tokenizeAndDetokenizeAsLlamaServer() throws Exception {
        Tokenizer tokenizer = runtime.tokenizer();
        String text = "Once upon a time, there was a cat.";
        List<Integer> plain = ids(post("/tokenize", "{\"content\":\"" + text + "\"}").then().statusCode(200).extract().asString());
        assertEquals(toList(tokenizer.encode(text, false, true)), plain);
        List<Integer> special = ids(post("/tokenize", "{\"content\":\"" + text + "\",\"add_special\":true}").then().statusCode(200).extract().asString());
        assertEquals(tokenizer.bos(), special.getFirst());
        assertEquals(plain, special.subList(1, special.size()));

        JsonNode pieces = RequestParser.JSON.readTree(post("/tokenize", "{\"content\":\"" + text + "\",\"with_pieces\":true}")
                .then().statusCode(200).extract().asString()).get("tokens");
        StringBuilder joined = new StringBuilder();
        for (int i = 0; i < pieces.size(); i++) {
            assertEquals(plain.get(i), pieces.get(i).get("id").asInt());
            assertEquals(new String(tokenizer.pieceBytes(plain.get(i)), StandardCharsets.UTF_8), pieces.get(i).get("piece").asText());
            joined.append(pieces.get(i).get("piece").asText());
        }
        assertEquals(" " + text, joined.toString(), "SentencePiece pieces carry the space prefix");

        // mixed content: a token id passes through, only a leading string gets BOS
        List<Integer> mixed = ids(post("/tokenize", "{\"content\":[\"Once\"," + plain.getLast() + "],\"add_special\":true}")
                .then().statusCode(200).extract().asString());
        List<Integer> once = toList(tokenizer.encode("Once", true, true));
        once.add(plain.getLast());
        assertEquals(once, mixed);

        String content = post("/detokenize", "{\"tokens\":" + special + "}").then().statusCode(200).extract().path("content");
        ByteArrayOutputStream expected = new ByteArrayOutputStream();
        for (int id : special) expected.writeBytes(tokenizer.pieceBytes(id));
        assertEquals(expected.toString(StandardCharsets.UTF_8), content);
        assertTrue(content.endsWith(" Once upon a time, there was a cat."), content);
    }

    @Test
    void badBodiesGetOpenAiShapedErrorsNamingTheField() {
        record Case(String path, String body, String param, String message) {}
        int vocab = runtime.tokenizer().vocabSize();
        for (Case c : List.of(
                new Case("/tokenize", "{}", "content", "\"content\" is required"),
                new Case("/tokenize", "{\"content\":5}", "content", "must be a string or an array"),
                new Case("/tokenize", "{\"content\":[\"a\",{}]}", "content", "content[1] must be a string or a token id"),
                new Case("/tokenize", "{\"content\":\"a\",\"with_pieces\":\"yes\"}", "with_pieces", "must be a boolean"),
                new Case("/detokenize", "{}", "tokens", "\"tokens\" is required"),
                new Case("/detokenize", "{\"tokens\":\"1 2\"}", "tokens", "must be an array"),
                new Case("/detokenize", "{\"tokens\":[1," + vocab + "]}", "tokens", "tokens[1] must be a token id from 0 to " + (vocab - 1)),
                new Case("/detokenize", "{\"tokens\":[-1]}", "tokens", "token id"),
                new Case("/apply-template", "{\"messages\":[]}", "messages", "messages is empty"),
                new Case("/apply-template", "{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"tools\":5}", "tools", "must be an array"),
                new Case("/apply-template", "{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"frobnicate\":1}", "frobnicate", "Unrecognized"))) {
            post(c.path(), c.body()).then().statusCode(400).contentType(ContentType.JSON)
                    .body("error.type", equalTo("invalid_request_error"))
                    .body("error.param", equalTo(c.param()))
                    .body("error.message", containsString(c.message()));
        }
        post("/tokenize", "{\"content\": ").then().statusCode(400).body("error.message", containsString("not valid JSON"));
    }

    private static List<Integer> ids(String json) throws Exception {
        List<Integer> ids = new ArrayList<>();
        for (JsonNode t : RequestParser.JSON.readTree(json).get("tokens")) ids.add(t.asInt());
        return ids;
    }

    private static List<Integer> toList(int[] a) {
        List<Integer> l = new ArrayList<>();
        for (int x : a) l.add(x);
        return l;
    }
}
