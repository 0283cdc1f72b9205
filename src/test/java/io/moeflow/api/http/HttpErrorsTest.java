package io.moeflow.api.http;

import static io.restassured.RestAssured.given;
import static org.hamcrest.Matchers.containsString;
import static org.hamcrest.Matchers.equalTo;
import static org.hamcrest.Matchers.nullValue;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import io.moeflow.api.ModelRuntime;
import io.moeflow.api.RequestParser;
import io.moeflow.api.testing.LogCapture;
import io.moeflow.api.testing.RawHttp;
import io.moeflow.api.testing.Ready;
import io.quarkus.test.junit.QuarkusTest;
import io.restassured.http.ContentType;
import jakarta.inject.Inject;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.util.logging.Level;
import org.eclipse.microprofile.config.inject.ConfigProperty;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * Errors from every layer are OpenAI-shaped and say what is wrong: the body (empty, trailing data, a repeated key,
 * bad UTF-8), the router (unknown route, wrong method), and Vert.x' own limits and framing (request line, headers,
 * Content-Length), these last over a raw socket since no HTTP client sends such requests.
 */
@QuarkusTest
class HttpErrorsTest {
    @ConfigProperty(name = "quarkus.http.test-port")
    int port;
    @Inject
    ModelRuntime runtime;
    @Inject
    VertxServerHooks hooks;

    @BeforeEach
    void ready() throws InterruptedException {
        Ready.await();
        assertTrue(hooks.awaitInstalled(30_000), "the Vert.x server hooks are not installed");
    }

    private RawHttp.Answer raw(String request) throws Exception {
        return RawHttp.send("localhost", port, RawHttp.ascii(request), 15_000);
    }

    private static JsonNode error(RawHttp.Answer answer) throws Exception {
        assertEquals("application/json", answer.header("Content-Type"), answer.toString());
        JsonNode error = RequestParser.JSON.readTree(answer.body()).get("error");
        assertTrue(error != null && error.has("message") && error.has("type") && error.has("param") && error.has("code"),
                "not an OpenAI error: " + answer);
        return error;
    }

    @Test
    void anEmptyBodyIsNamedAsSuch() {
        given().contentType(ContentType.JSON).when().post("/v1/completions").then().statusCode(400)
                .body("error.type", equalTo("invalid_request_error"))
                .body("error.message", containsString("request body is empty"))
                .body("error.param", nullValue());
        given().contentType(ContentType.JSON).body("").when().post("/v1/chat/completions").then().statusCode(400)
                .body("error.message", containsString("request body is empty"));
    }

    @Test
    void lenientReadingsAreRefused() {
        given().contentType(ContentType.JSON).body("{\"prompt\":\"hi\",\"max_tokens\":1} {\"prompt\":\"x\"}")
                .when().post("/v1/completions").then().statusCode(400)
                .body("error.message", containsString("more after its JSON value"));
        given().contentType(ContentType.JSON).body("{\"prompt\":\"hi\",\"max_tokens\":1,\"max_tokens\":500}")
                .when().post("/v1/completions").then().statusCode(400)
                .body("error.param", equalTo("max_tokens")).body("error.message", containsString("more than once"));
        byte[] badUtf8 = {'{', '"', 'p', 'r', 'o', 'm', 'p', 't', '"', ':', '"', (byte) 0xE2, (byte) 0x28, (byte) 0xA1, '"', '}'};
        given().contentType(ContentType.JSON).body(badUtf8).when().post("/v1/completions").then().statusCode(400)
                .body("error.message", containsString("not valid UTF-8"));
        given().contentType(ContentType.JSON).body("{\"prompt\":\"\\ud800\"}").when().post("/v1/completions").then().statusCode(400)
                .body("error.param", equalTo("prompt")).body("error.message", containsString("unpaired UTF-16 surrogate"));
    }

    @Test
    void unknownRoutesAndWrongMethodsAreJson() throws Exception {
        given().when().get("/v1/nope").then().statusCode(404).contentType(ContentType.JSON)
                .body("error.code", equalTo("unknown_url")).body("error.message", containsString("GET /v1/nope"));
        given().when().get("/no/such/page").then().statusCode(404).contentType(ContentType.JSON)
                .body("error.message", containsString("unknown route"));
        given().when().get("/v1/completions").then().statusCode(405).contentType(ContentType.JSON)
                .header("Allow", "POST")
                .body("error.code", equalTo("method_not_allowed"))
                .body("error.message", containsString("method GET is not allowed on /v1/completions; allowed: POST"));
        given().when().delete("/v1/models").then().statusCode(405).header("Allow", "GET");
        given().contentType(ContentType.JSON).body("{}").when().put("/health").then().statusCode(405).header("Allow", "GET");
        given().contentType(ContentType.JSON).body("{}").when().post("/v1/models/x").then().statusCode(405).header("Allow", "GET");
        RawHttp.Answer custom = raw("FROB /v1/models HTTP/1.1\r\nHost: x\r\n\r\n");
        assertEquals(405, custom.status(), custom.toString());
        assertTrue(error(custom).get("message").asText().contains("FROB"), custom.toString());
    }

    @Test
    void modelsRetrieveAnswersTheServedModelAnd404sOthers() {
        given().when().get("/v1/models/" + runtime.modelName()).then().statusCode(200)
                .body("id", equalTo(runtime.modelName())).body("object", equalTo("model"))
                .body("owned_by", equalTo("moeflow"));
        given().when().get("/v1/models/gpt-4o").then().statusCode(404)
                .body("error.code", equalTo("model_not_found")).body("error.param", equalTo("model"))
                .body("error.message", containsString("'gpt-4o' does not exist"));
    }

    @Test
    void metricsAreAlsoAtTheUsualPath() {
        String usual = given().when().get("/metrics").then().statusCode(200).extract().asString();
        String quarkus = given().when().get("/q/metrics").then().statusCode(200).extract().asString();
        for (String body : new String[] {usual, quarkus}) {
            assertTrue(body.contains("# TYPE moeflow_") || body.contains("# HELP"), body.substring(0, Math.min(300, body.length())));
        }
        assertTrue(usual.contains("moeflow_"), "no moeflow metric at /metrics");
    }

    @Test
    void limitsVertxEnforcesBeforeTheRouterAreNamed() throws Exception {
        RawHttp.Answer longPath = raw("GET /v1/" + "a".repeat(9000) + " HTTP/1.1\r\nHost: x\r\n\r\n");
        assertEquals(414, longPath.status(), longPath.toString());
        assertEquals("uri_too_long", error(longPath).get("code").asText());
        assertTrue(error(longPath).get("message").asText().contains("longer than the limit of 4096 bytes"), longPath.toString());
        assertEquals("close", longPath.header("Connection"));

        RawHttp.Answer bigHeader = raw("GET /health HTTP/1.1\r\nHost: x\r\nX-Big: " + "b".repeat(30_000) + "\r\n\r\n");
        assertEquals(431, bigHeader.status(), bigHeader.toString());
        assertEquals("headers_too_large", error(bigHeader).get("code").asText());
        assertTrue(error(bigHeader).get("message").asText().contains("20K"), bigHeader.toString());

        for (String length : new String[] {"abc", "-5", "1, 2"}) {
            RawHttp.Answer garbage = raw("POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Length: " + length + "\r\n\r\n{}");
            assertEquals(400, garbage.status(), length + ": " + garbage);
            assertEquals("malformed_request", error(garbage).get("code").asText());
            assertTrue(error(garbage).get("message").asText().contains("Content-Length"), garbage.toString());
        }
        RawHttp.Answer twoLengths = raw("POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\n{}");
        assertEquals(400, twoLengths.status(), twoLengths.toString());
        RawHttp.Answer garbageLine = raw("HELLO\r\n\r\n");
        assertEquals(400, garbageLine.status(), garbageLine.toString());
        assertTrue(error(garbageLine).get("message").asText().startsWith("malformed HTTP request"), garbageLine.toString());
        // and the service goes on
        given().when().get("/health").then().statusCode(200);
    }

    @Test
    void aClientLeavingMidBodyIsADebugLineNotAnErrorStack() throws Exception {
        try (LogCapture log = LogCapture.start()) {
            for (int i = 0; i < 3; i++) {
                try (Socket socket = new Socket()) {
                    socket.connect(new InetSocketAddress("localhost", port), 5000);
                    OutputStream out = socket.getOutputStream();
                    out.write(("POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                            + "Content-Length: 5000\r\n\r\n{\"prompt\":\"Once").getBytes(StandardCharsets.US_ASCII));
                    out.flush();
                    Thread.sleep(200);
                }
            }
            Thread.sleep(500);
            given().when().get("/health").then().statusCode(200);
            assertEquals(java.util.List.of(), log.atLeast(Level.WARNING), "warnings or errors logged for clients that went away");
        }
    }
}
