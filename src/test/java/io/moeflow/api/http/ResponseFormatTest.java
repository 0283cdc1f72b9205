package io.moeflow.api.http;

import static io.restassured.RestAssured.given;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.networknt.schema.JsonSchema;
import com.networknt.schema.JsonSchemaFactory;
import com.networknt.schema.SpecVersion;
import io.moeflow.api.testing.Ready;
import io.moeflow.api.testing.Sse;
import io.quarkus.test.junit.QuarkusTest;
import io.restassured.http.ContentType;
import io.restassured.response.Response;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * response_format over HTTP on the bundled stories260K model (a story model: it writes no JSON of its own):
 * json_schema requests sent at once (so they decode in the same batch) each answer JSON valid against the schema
 * (judged by networknt's validator) at temperature 1, streamed or not; json_object gives an object; a schema keyword
 * moeflow cannot enforce is a 400 naming it.
 */
@QuarkusTest
public class ResponseFormatTest {
    /** Its longest sentence (every optional whitespace at its longest) fits the model's 512-token context. */
    public static final String SCHEMA = "{\"type\":\"object\",\"properties\":{\"happy\":{\"type\":\"boolean\"},\"mood\":{\"enum\":[\"sad\",\"glad\"]},"
            + "\"n\":{\"type\":\"integer\"}},\"required\":[\"happy\",\"n\"],\"additionalProperties\":false}";
    public static final ObjectMapper STRICT = new ObjectMapper().enable(DeserializationFeature.FAIL_ON_TRAILING_TOKENS);

    @BeforeEach
    void ready() throws InterruptedException {
        Ready.await();
    }

    private static Response post(String path, String body) {
        return given().contentType(ContentType.JSON).body(body).when().post(path);
    }

    private static String chat(long seed, String extra) {
        return "{\"messages\":[{\"role\":\"user\",\"content\":\"Tell a story\"}],\"temperature\":1,\"seed\":" + seed
                + ",\"max_tokens\":400,\"response_format\":{\"type\":\"json_schema\",\"json_schema\":{\"name\":\"mood\",\"strict\":true,"
                + "\"schema\":" + SCHEMA + "}}" + extra + "}";
    }

    @Test
    void twentySeedsAtOnceAnswerValidJson() throws Exception {
        JsonSchema validator = JsonSchemaFactory.getInstance(SpecVersion.VersionFlag.V202012).getSchema(STRICT.readTree(SCHEMA));
        ExecutorService clients = Executors.newFixedThreadPool(20);
        try {
            List<Future<Response>> answers = new ArrayList<>();
            for (int seed = 0; seed < 20; seed++) {
                long s = seed;
                answers.add(clients.submit(() -> post("/v1/chat/completions", chat(s, ""))));
            }
            for (int seed = 0; seed < 20; seed++) {
                Response r = answers.get(seed).get(3, TimeUnit.MINUTES);
                assertEquals(200, r.statusCode(), r.asString());
                assertEquals("stop", r.jsonPath().getString("choices[0].finish_reason"), r.asString());
                String content = r.jsonPath().getString("choices[0].message.content");
                JsonNode value = STRICT.readTree(content);
                assertEquals(java.util.Set.of(), validator.validate(value), "seed " + seed + ": " + content);
            }
        } finally {
            clients.shutdownNow();
        }
    }

    @Test
    void streamedAnswerIsTheSameValidJson() throws Exception {
        String whole = post("/v1/chat/completions", chat(5, "")).then().statusCode(200).extract().path("choices[0].message.content");
        List<String> data = Sse.data(post("/v1/chat/completions", chat(5, ",\"stream\":true")).then().statusCode(200).extract().asString());
        StringBuilder text = new StringBuilder();
        for (String d : data.subList(0, data.size() - 1)) text.append(STRICT.readTree(d).at("/choices/0/delta/content").asText(""));
        assertEquals(whole, text.toString());
        assertTrue(STRICT.readTree(whole).has("happy"), whole);
    }

    @Test
    void jsonObjectOnCompletionsGivesAnObject() throws Exception {
        String free = post("/v1/completions", "{\"prompt\":\"Once upon a time\",\"temperature\":1,\"seed\":2,\"max_tokens\":30}")
                .then().statusCode(200).extract().path("choices[0].text");
        assertTrue(!free.trim().startsWith("{"), "the model does not write JSON unasked: " + free);
        int stopped = 0;
        for (int seed = 0; seed < 8; seed++) {
            Response r = post("/v1/completions", "{\"prompt\":\"Once upon a time\",\"temperature\":1,\"seed\":" + seed
                    + ",\"max_tokens\":400,\"response_format\":{\"type\":\"json_object\"}}");
            assertEquals(200, r.statusCode(), r.asString());
            String text = r.jsonPath().getString("choices[0].text");
            assertTrue(text.startsWith("{"), text);
            if ("stop".equals(r.jsonPath().getString("choices[0].finish_reason"))) {
                assertTrue(STRICT.readTree(text).isObject(), text);
                stopped++;
            } else {
                assertJsonPrefix(text); // cut by max_tokens: what came is the start of a JSON object
            }
        }
        System.out.println("json_object: " + stopped + " of 8 finished within 400 tokens");
    }

    /** Jackson reads {@code text} to its end with no error but the end of input. */
    private static void assertJsonPrefix(String text) throws Exception {
        try (com.fasterxml.jackson.core.JsonParser p = STRICT.createParser(text)) {
            while (p.nextToken() != null) {
                // read on
            }
        } catch (com.fasterxml.jackson.core.io.JsonEOFException end) {
            return;
        } catch (com.fasterxml.jackson.core.JsonProcessingException e) {
            assertTrue(e.getOriginalMessage().contains("end-of-input"), e.getOriginalMessage() + " in " + text);
            return;
        }
        org.junit.jupiter.api.Assertions.fail("an unfinished answer parsed whole: " + text);
    }

    @Test
    void aKeywordItCannotEnforceIsRefusedByName() {
        Response r = post("/v1/chat/completions", "{\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}],\"response_format\":"
                + "{\"type\":\"json_schema\",\"json_schema\":{\"name\":\"x\",\"schema\":{\"type\":\"object\",\"properties\":"
                + "{\"d\":{\"type\":\"string\",\"format\":\"date\"}}}}}}");
        assertEquals(400, r.statusCode(), r.asString());
        assertEquals("response_format.json_schema.schema", r.jsonPath().getString("error.param"));
        assertEquals("unsupported_parameter", r.jsonPath().getString("error.code"));
        assertTrue(r.jsonPath().getString("error.message").contains("'format'"), r.asString());
        assertTrue(r.jsonPath().getString("error.message").contains("/properties/d"), r.asString());
        Response noName = post("/v1/chat/completions", "{\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}],\"response_format\":"
                + "{\"type\":\"json_schema\",\"json_schema\":{\"schema\":{}}}}");
        assertEquals(400, noName.statusCode(), noName.asString());
        assertEquals("response_format.json_schema.name", noName.jsonPath().getString("error.param"));
    }
}
