package io.moeflow.api.http;

import static io.restassured.RestAssured.given;
import static org.hamcrest.Matchers.equalTo;
import static org.hamcrest.Matchers.everyItem;
import static org.hamcrest.Matchers.greaterThan;
import static org.hamcrest.Matchers.nullValue;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.moeflow.api.ModelRuntime;
import io.moeflow.api.RequestParser;
import io.moeflow.api.testing.Browser;
import io.moeflow.api.testing.ControllableEngine;
import io.moeflow.api.testing.KafkaClient;
import io.moeflow.api.testing.KafkaTestResource;
import io.moeflow.api.testing.Ready;
import io.moeflow.api.testing.TestModelRuntime;
import io.quarkus.test.common.QuarkusTestResource;
import io.quarkus.test.common.http.TestHTTPResource;
import io.quarkus.test.junit.QuarkusTest;
import io.quarkus.test.junit.QuarkusTestProfile;
import io.quarkus.test.junit.TestProfile;
import io.restassured.http.ContentType;
import io.restassured.response.ExtractableResponse;
import io.restassured.response.Response;
import jakarta.inject.Inject;
import java.net.URL;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.openqa.selenium.By;
import org.openqa.selenium.WebDriver;
import org.openqa.selenium.WebElement;
import org.openqa.selenium.support.ui.WebDriverWait;

/**
 * The playground page in headless Chromium ({@link Browser}; the test is skipped without it),
 * against the real stories260K model, with an API key set: the page must send it on every /v1 call.
 */
@QuarkusTest
@TestProfile(PlaygroundBrowserTest.ApiKeyProfile.class)
@QuarkusTestResource(value = KafkaTestResource.class, restrictToAnnotatedClass = false)
class PlaygroundBrowserTest {
    static final String KEY = "playground-test-key";

    /** An API key, and a free port so a parallel build on the same machine cannot collide with this one. */
    public static class ApiKeyProfile implements QuarkusTestProfile {
        @Override
        public Map<String, String> getConfigOverrides() {
            return Map.of("moeflow.api-key", KEY, "quarkus.http.test-port", "0");
        }
    }

    private static final String PROMPT = "Once upon a time";
    private static final int MAX_TOKENS = 24;
    private static final long SEED = 42;

    @TestHTTPResource("/")
    URL page;
    @Inject
    ModelRuntime runtime;

    @Test
    void statsNeedTheApiKeyLikeEveryV1Route() throws Exception {
        Ready.await();
        given().when().get("/v1/stats").then().statusCode(401).body("error.code", equalTo("invalid_api_key"));
        given().header("Authorization", "Bearer wrong").when().get("/v1/stats").then().statusCode(401);
        given().header("Authorization", "Bearer " + KEY).when().get("/v1/stats").then().statusCode(200)
                .body("state", equalTo("ready"));
        given().when().get("/v1/stats/experts").then().statusCode(401).body("error.code", equalTo("invalid_api_key"));
        given().header("Authorization", "Bearer " + KEY).when().get("/v1/stats/experts").then().statusCode(200)
                .body("expert_mode", equalTo("resident")).body("resident", nullValue())
                .body("counts.size()", greaterThan(0)).body("counts", everyItem(nullValue())); // stories260K is dense
    }

    @Test
    void pageStreamsTheApiTextShowsEventsFiguresAndErrorsAndStopCancels() throws Exception {
        try (Browser browser = Browser.start()) {
            Ready.await();
            ExtractableResponse<Response> direct = given().header("Authorization", "Bearer " + KEY)
                    .contentType(ContentType.JSON)
                    .body("{\"prompt\":\"" + PROMPT + "\",\"max_tokens\":" + MAX_TOKENS + ",\"temperature\":0,\"seed\":" + SEED + "}")
                    .when().post("/v1/completions").then().statusCode(200).extract();
            String expected = direct.path("choices[0].text");
            int completionTokens = direct.path("usage.completion_tokens");
            assertTrue(!expected.isEmpty(), "the model generated no text");

            WebDriver driver = browser.driver;
            WebDriverWait wait = browser.wait;
            driver.get(page.toString());
            browser.type("api-key", KEY);
            browser.type("prompt", PROMPT);
            browser.type("max_tokens", Integer.toString(MAX_TOKENS));
            browser.type("temperature", "0");
            browser.type("seed", Long.toString(SEED));
            browser.click("send");

            assertEquals("done", browser.awaitSettled("status"),
                    driver.findElement(By.id("status")).getText() + " / " + browser.text("error"));
            assertEquals(expected, browser.text("output"));
            String id = browser.text("request-id");
            assertTrue(id.startsWith("cmpl-"), id);

            // the shown id is the one /v1/requests/{id}/events knows: watch it from the page
            browser.click("watch-this");
            assertEquals("done", browser.awaitSettled("events-status"), browser.text("events-error"));
            List<WebElement> rows = driver.findElements(By.cssSelector("#events-list tr"));
            assertEquals(completionTokens, rows.size());
            StringBuilder eventsText = new StringBuilder();
            for (int i = 0; i < rows.size(); i++) {
                List<WebElement> cells = rows.get(i).findElements(By.tagName("td"));
                assertEquals(Integer.toString(i), cells.get(0).getText());
                eventsText.append(RequestParser.JSON.readTree(cells.get(1).getDomProperty("textContent")).asText());
            }
            assertEquals(expected, eventsText.toString());
            assertEquals("length", rows.getLast().findElements(By.tagName("td")).get(2).getText());

            // the figures panel, polled every second with the key
            wait.until(d -> isNumber(browser.text("stat-tps")));
            assertTrue(Double.parseDouble(browser.text("stat-tps")) >= 0);
            assertTrue(isNumber(browser.text("stat-running")), browser.text("stat-running"));
            assertEquals("ready", browser.text("stat-state"));
            assertTrue(driver.findElement(By.id("stats-error")).getDomProperty("hidden").equals("true"),
                    browser.text("stats-error"));
            // stories260K is dense: the expert map says so instead of drawing
            wait.until(d -> browser.text("expert-summary").contains("no routed experts"));
            assertEquals("0", driver.findElement(By.id("expert-map")).getDomProperty("width"));

            // an OpenAI-shaped 400 is shown with its message and parameter
            browser.type("top_p", "0");
            browser.click("send");
            wait.until(d -> "error".equals(browser.state("status")));
            String error = browser.text("error");
            assertTrue(error.contains("HTTP 400") && error.contains("invalid_request_error") && error.contains("top_p"), error);
            browser.type("top_p", "");

            // Stop aborts the fetch, and the closed connection cancels the generation in the engine
            ControllableEngine engine = ((TestModelRuntime) runtime).control();
            engine.setEventDelay(Duration.ofMillis(200)); // slow enough that Stop comes mid-generation
            try {
                browser.type("max_tokens", "200");
                browser.click("send");
                wait.until(d -> browser.text("request-id").startsWith("cmpl-"));
                String slow = browser.text("request-id");
                browser.click("stop-generation");
                wait.until(d -> "stopped".equals(browser.state("status")));
                long deadline = System.nanoTime() + KafkaClient.WAIT.toNanos();
                while (!engine.wasCancelled(slow) && System.nanoTime() < deadline) Thread.sleep(10);
                assertTrue(engine.wasCancelled(slow), "the engine saw the cancel of " + slow);
            } finally {
                engine.setEventDelay(Duration.ZERO);
            }

            // the key survives a reload (localStorage)
            driver.navigate().refresh();
            assertEquals(KEY, driver.findElement(By.id("api-key")).getDomProperty("value"));
        }
    }

    private static boolean isNumber(String s) {
        return s != null && s.matches("-?\\d+(\\.\\d+)?");
    }
}
