package io.moeflow.api.http;

import static io.restassured.RestAssured.given;
import static org.hamcrest.Matchers.containsString;
import static org.hamcrest.Matchers.equalTo;
import static org.hamcrest.Matchers.nullValue;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.moeflow.api.ModelRuntime;
import io.moeflow.api.RequestParser;
import io.moeflow.api.testing.ControllableEngine;
import io.moeflow.api.testing.EdgeProfile;
import io.moeflow.api.testing.RawHttp;
import io.moeflow.api.testing.TestModelRuntime;
import io.quarkus.test.junit.QuarkusTest;
import io.quarkus.test.junit.TestProfile;
import io.restassured.http.ContentType;
import io.restassured.specification.RequestSpecification;
import jakarta.inject.Inject;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.time.Duration;
import org.eclipse.microprofile.config.inject.ConfigProperty;
import org.junit.jupiter.api.BeforeEach;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** Who may call what (API key, metrics key, CORS) and how long a slow client may take, with real connections. */
@QuarkusTest
@TestProfile(EdgeProfile.class)
class HttpEdgeTest {
    @ConfigProperty(name = "quarkus.http.test-port")
    int port;
    @Inject
    VertxServerHooks hooks;
    @Inject
    ModelRuntime runtime;

    @BeforeEach
    void ready() throws InterruptedException {
        long deadline = System.nanoTime() + 90_000_000_000L;
        while (given().get("/health").statusCode() != 200 && System.nanoTime() < deadline) Thread.sleep(50);
        assertTrue(hooks.awaitInstalled(30_000), "the Vert.x server hooks are not installed");
    }

    private static RequestSpecification withKey(String key) {
        return given().header("Authorization", "Bearer " + key);
    }

    @Test
    void probesAndThePageAreOpenTheApiNeedsTheKey() {
        given().get("/health").then().statusCode(200);
        given().get("/q/health/ready").then().statusCode(200);
        given().get("/q/health/live").then().statusCode(200);
        given().get("/").then().statusCode(200).contentType(containsString("text/html"));
        given().get("/v1/models").then().statusCode(401).header("WWW-Authenticate", "Bearer")
                .body("error.code", equalTo("invalid_api_key"));
        withKey("wrong").get("/v1/models").then().statusCode(401);
        withKey(EdgeProfile.API_KEY).get("/v1/models").then().statusCode(200);
        // the key is checked before the route: an unknown /v1 route without it is a 401, with it a 404
        given().get("/v1/nope").then().statusCode(401);
        withKey(EdgeProfile.API_KEY).get("/v1/nope").then().statusCode(404);
        // llama-server's routes of what the model gets need the key too
        Map<String, String> bodies = Map.of("/apply-template", "{\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}",
                "/tokenize", "{\"content\":\"hi\"}", "/detokenize", "{\"tokens\":[1]}");
        for (String path : ModelInputRoutes.PATHS) {
            given().contentType(ContentType.JSON).body(bodies.get(path))
                    .post(path).then().statusCode(401).body("error.code", equalTo("invalid_api_key"));
            withKey(EdgeProfile.API_KEY).contentType(ContentType.JSON).body(bodies.get(path)).post(path).then().statusCode(200);
        }
    }

    @Test
    void metricsNeedTheMetricsKeyOrTheApiKey() {
        for (String path : new String[] {"/metrics", "/q/metrics"}) {
            given().get(path).then().statusCode(401).contentType(ContentType.JSON).body("error.code", equalTo("invalid_api_key"));
            withKey("wrong").get(path).then().statusCode(401);
            withKey(EdgeProfile.METRICS_KEY).get(path).then().statusCode(200).body(containsString("moeflow_"));
            withKey(EdgeProfile.API_KEY).get(path).then().statusCode(200);
        }
        // the metrics key opens the metrics only
        withKey(EdgeProfile.METRICS_KEY).get("/v1/models").then().statusCode(401);
    }

    @Test
    void corsAnswersPreflightForAllowedOriginsAndRefusesOthers() {
        given().header("Origin", EdgeProfile.ALLOWED_ORIGIN).header("Access-Control-Request-Method", "POST")
                .header("Access-Control-Request-Headers", "authorization, content-type")
                .when().options("/v1/chat/completions").then().statusCode(204)
                .header("Access-Control-Allow-Origin", EdgeProfile.ALLOWED_ORIGIN)
                .header("Access-Control-Allow-Methods", containsString("POST"))
                .header("Access-Control-Allow-Headers", containsString("Authorization"))
                .header("Access-Control-Max-Age", "600")
                .header("Vary", "Origin");
        withKey(EdgeProfile.API_KEY).header("Origin", EdgeProfile.ALLOWED_ORIGIN).get("/v1/models").then().statusCode(200)
                .header("Access-Control-Allow-Origin", EdgeProfile.ALLOWED_ORIGIN)
                .header("Access-Control-Expose-Headers", containsString("Retry-After"));
        given().header("Origin", "https://evil.example").header("Access-Control-Request-Method", "POST")
                .when().options("/v1/chat/completions").then().statusCode(403).contentType(ContentType.JSON)
                .body("error.code", equalTo("origin_not_allowed"))
                .body("error.message", containsString("https://evil.example"))
                .header("Access-Control-Allow-Origin", nullValue());
        withKey(EdgeProfile.API_KEY).header("Origin", "https://evil.example").contentType(ContentType.JSON)
                .body("{\"prompt\":\"hi\",\"max_tokens\":1}").post("/v1/completions").then().statusCode(403);
        // the page of the service itself (the playground) is not cross-origin
        String self = io.restassured.RestAssured.baseURI + ":" + port; // as the tests address the service
        withKey(EdgeProfile.API_KEY).header("Origin", self).get("/v1/models").then().statusCode(200)
                .header("Access-Control-Allow-Origin", nullValue());
    }

    @Test
    void aConnectionThatSendsHalfItsHeadersIsClosedWithinTheHeaderTimeout() throws Exception {
        try (Socket socket = new Socket()) {
            socket.connect(new InetSocketAddress("localhost", port), 5000);
            socket.getOutputStream().write(RawHttp.ascii("GET /health HTTP/1.1\r\nHost: x\r\nX-Slow: 1"));
            socket.getOutputStream().flush();
            long waited = RawHttp.awaitClose(socket, (int) (EdgeProfile.HEADER_TIMEOUT_MS * 5));
            assertTrue(waited >= 0, "still open after " + EdgeProfile.HEADER_TIMEOUT_MS * 5 + " ms");
            assertTrue(waited >= EdgeProfile.HEADER_TIMEOUT_MS - 200 && waited <= EdgeProfile.HEADER_TIMEOUT_MS + 2000,
                    "closed after " + waited + " ms, the bound is " + EdgeProfile.HEADER_TIMEOUT_MS);
        }
    }

    @Test
    void anIdleKeepAliveConnectionIsClosedAfterTheHeaderTimeout() throws Exception {
        try (Socket socket = new Socket()) {
            socket.connect(new InetSocketAddress("localhost", port), 5000);
            socket.setSoTimeout(10_000);
            OutputStream out = socket.getOutputStream();
            InputStream in = socket.getInputStream();
            for (int i = 0; i < 2; i++) {
                // within the timeout, the connection serves request after request
                out.write(RawHttp.ascii("GET /health HTTP/1.1\r\nHost: x\r\n\r\n"));
                out.flush();
                RawHttp.Answer answer = RawHttp.read(in, System.nanoTime());
                assertEquals(200, answer.status(), answer.toString());
                Thread.sleep(EdgeProfile.HEADER_TIMEOUT_MS / 3);
            }
            long waited = RawHttp.awaitClose(socket, (int) (EdgeProfile.HEADER_TIMEOUT_MS * 5));
            assertTrue(waited >= 0 && waited <= EdgeProfile.HEADER_TIMEOUT_MS + 2000, "idle connection closed after " + waited + " ms");
        }
    }

    @Test
    void aTrickledBodyIsAnsweredWith408WithinTheBodyTimeout() throws Exception {
        try (Socket socket = new Socket()) {
            socket.connect(new InetSocketAddress("localhost", port), 5000);
            socket.setSoTimeout((int) (EdgeProfile.BODY_TIMEOUT_MS * 5));
            OutputStream out = socket.getOutputStream();
            out.write(RawHttp.ascii("POST /v1/completions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + EdgeProfile.API_KEY
                    + "\r\nContent-Type: application/json\r\nContent-Length: 40\r\n\r\n{\"prompt\""));
            out.flush();
            long start = System.nanoTime();
            Thread trickle = Thread.ofVirtual().start(() -> {
                try {
                    for (int i = 0; i < 30; i++) {
                        Thread.sleep(300);
                        out.write(' ');
                        out.flush();
                    }
                } catch (Exception e) {
                    // closed by the server
                }
            });
            RawHttp.Answer answer = RawHttp.read(socket.getInputStream(), start);
            trickle.interrupt();
            assertEquals(408, answer.status(), answer.toString());
            assertEquals("request_timeout", RequestParser.JSON.readTree(answer.body()).at("/error/code").asText());
            assertTrue(answer.millis() >= EdgeProfile.BODY_TIMEOUT_MS - 200 && answer.millis() <= EdgeProfile.BODY_TIMEOUT_MS + 2000,
                    "answered after " + answer.millis() + " ms");
            assertTrue(RawHttp.awaitClose(socket, 5000) >= 0, "the connection stays open after the 408");
        }
    }

    @Test
    void answersOutliveTheTimeouts() {
        // Events 100 ms apart: 30 tokens take 3 s, more than either bound. They bound the request, not the answer,
        // streamed or whole (a whole answer sends nothing until it is done).
        ControllableEngine engine = ((TestModelRuntime) runtime).control();
        engine.setEventDelay(Duration.ofMillis(100));
        try {
            for (boolean stream : new boolean[] {true, false}) {
                long start = System.nanoTime();
                String body = withKey(EdgeProfile.API_KEY).contentType(ContentType.JSON)
                        .body("{\"prompt\":\"Once upon a time\",\"max_tokens\":30,\"temperature\":0,\"ignore_eos\":true,\"stream\":" + stream + "}")
                        .post("/v1/completions").then().statusCode(200).extract().asString();
                long ms = (System.nanoTime() - start) / 1_000_000;
                assertTrue(ms > EdgeProfile.HEADER_TIMEOUT_MS + 500, "the answer took only " + ms + " ms: it tests nothing");
                assertTrue(stream ? body.endsWith("data: [DONE]\n\n") : body.contains("\"completion_tokens\":30"), body);
            }
        } finally {
            engine.setEventDelay(Duration.ZERO);
        }
    }

    @Test
    void aWatcherOfRequestEventsIsNotCutByTheTimeouts() throws Exception {
        // GET /v1/requests/{id}/events of an id nobody runs: an open stream with nothing in it for longer than both bounds
        try (Socket socket = new Socket()) {
            socket.connect(new InetSocketAddress("localhost", port), 5000);
            socket.setSoTimeout(10_000);
            OutputStream out = socket.getOutputStream();
            out.write(RawHttp.ascii("GET /v1/requests/nobody-" + System.nanoTime() + "/events HTTP/1.1\r\nHost: x\r\n"
                    + "Authorization: Bearer " + EdgeProfile.API_KEY + "\r\n\r\n"));
            out.flush();
            InputStream in = socket.getInputStream();
            StringBuilder head = new StringBuilder();
            while (!head.toString().endsWith("\r\n\r\n")) {
                int b = in.read();
                assertTrue(b >= 0, "closed before the head: " + head);
                head.append((char) b);
            }
            assertTrue(head.toString().startsWith("HTTP/1.1 200"), head.toString());
            long quiet = Math.max(EdgeProfile.HEADER_TIMEOUT_MS, EdgeProfile.BODY_TIMEOUT_MS) * 2;
            long start = System.nanoTime();
            socket.setSoTimeout((int) quiet);
            try {
                while (true) {
                    int b = in.read();
                    assertTrue(b != -1, "the stream was closed after " + (System.nanoTime() - start) / 1_000_000 + " ms");
                }
            } catch (java.net.SocketTimeoutException expected) {
                // still open after both bounds: as it should be
            }
        }
    }
}
