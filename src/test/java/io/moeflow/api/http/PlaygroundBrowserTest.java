package io.moeflow.api.http;

import static io.restassured.RestAssured.given;
import static org.hamcrest.Matchers.equalTo;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import io.moeflow.api.ModelRuntime;
import io.moeflow.api.RequestParser;
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
import java.io.File;
import java.io.IOException;
import jakarta.inject.Inject;
import java.net.URL;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.openqa.selenium.By;
import org.openqa.selenium.WebDriver;
import org.openqa.selenium.WebElement;
import org.openqa.selenium.chrome.ChromeDriver;
import org.openqa.selenium.chrome.ChromeDriverService;
import org.openqa.selenium.chrome.ChromeOptions;
import org.openqa.selenium.support.ui.WebDriverWait;

/**
 * The playground page in headless Chromium (Debian's chromium and chromedriver; the test is skipped without them),
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
    }

    @Test
    void pageStreamsTheApiTextShowsEventsFiguresAndErrorsAndStopCancels() throws Exception {
        Path chromium = onPath("chromium").orElse(null);
        Path chromedriver = onPath("chromedriver").orElse(null);
        assumeTrue(chromium != null, "chromium is not installed (apt-get install chromium)");
        assumeTrue(chromedriver != null, "chromedriver is not installed (apt-get install chromium-driver)");
        Ready.await();

        ExtractableResponse<Response> direct = given().header("Authorization", "Bearer " + KEY)
                .contentType(ContentType.JSON)
                .body("{\"prompt\":\"" + PROMPT + "\",\"max_tokens\":" + MAX_TOKENS + ",\"temperature\":0,\"seed\":" + SEED + "}")
                .when().post("/v1/completions").then().statusCode(200).extract();
        String expected = direct.path("choices[0].text");
        int completionTokens = direct.path("usage.completion_tokens");
        assertTrue(!expected.isEmpty(), "the model generated no text");

        Path profile = Files.createTempDirectory("moeflow-chromium-");
        ChromeDriverService service = new ChromeDriverService.Builder()
                .usingDriverExecutable(chromedriver.toFile()).usingAnyFreePort().build();
        ChromeOptions options = new ChromeOptions();
        options.setBinary(chromium.toFile());
        options.addArguments("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                "--disable-background-networking", "--disable-component-update", "--disable-sync",
                "--user-data-dir=" + profile);
        WebDriver driver = new ChromeDriver(service, options);
        try {
            WebDriverWait wait = new WebDriverWait(driver, KafkaClient.WAIT);
            driver.get(page.toString());
            type(driver, "api-key", KEY);
            type(driver, "prompt", PROMPT);
            type(driver, "max_tokens", Integer.toString(MAX_TOKENS));
            type(driver, "temperature", "0");
            type(driver, "seed", Long.toString(SEED));
            driver.findElement(By.id("send")).click();

            wait.until(d -> !List.of("idle", "running").contains(state(d, "status")));
            assertEquals("done", state(driver, "status"),
                    driver.findElement(By.id("status")).getText() + " / " + text(driver, "error"));
            assertEquals(expected, text(driver, "output"));
            String id = text(driver, "request-id");
            assertTrue(id.startsWith("cmpl-"), id);

            // the shown id is the one /v1/requests/{id}/events knows: watch it from the page
            driver.findElement(By.id("watch-this")).click();
            wait.until(d -> !List.of("idle", "running").contains(state(d, "events-status")));
            assertEquals("done", state(driver, "events-status"), text(driver, "events-error"));
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
            wait.until(d -> isNumber(text(d, "stat-tps")));
            assertTrue(Double.parseDouble(text(driver, "stat-tps")) >= 0);
            assertTrue(isNumber(text(driver, "stat-running")), text(driver, "stat-running"));
            assertEquals("ready", text(driver, "stat-state"));
            assertTrue(driver.findElement(By.id("stats-error")).getDomProperty("hidden").equals("true"),
                    text(driver, "stats-error"));

            // an OpenAI-shaped 400 is shown with its message and parameter
            type(driver, "top_p", "0");
            driver.findElement(By.id("send")).click();
            wait.until(d -> "error".equals(state(d, "status")));
            String error = text(driver, "error");
            assertTrue(error.contains("HTTP 400") && error.contains("invalid_request_error") && error.contains("top_p"), error);
            type(driver, "top_p", "");

            // Stop aborts the fetch, and the closed connection cancels the generation in the engine
            ControllableEngine engine = ((TestModelRuntime) runtime).control();
            engine.setEventDelay(Duration.ofMillis(200)); // slow enough that Stop comes mid-generation
            try {
                type(driver, "max_tokens", "200");
                driver.findElement(By.id("send")).click();
                wait.until(d -> text(d, "request-id").startsWith("cmpl-"));
                String slow = text(driver, "request-id");
                driver.findElement(By.id("stop-generation")).click();
                wait.until(d -> "stopped".equals(state(d, "status")));
                long deadline = System.nanoTime() + KafkaClient.WAIT.toNanos();
                while (!engine.wasCancelled(slow) && System.nanoTime() < deadline) Thread.sleep(10);
                assertTrue(engine.wasCancelled(slow), "the engine saw the cancel of " + slow);
            } finally {
                engine.setEventDelay(Duration.ZERO);
            }

            // the key survives a reload (localStorage)
            driver.navigate().refresh();
            assertEquals(KEY, driver.findElement(By.id("api-key")).getDomProperty("value"));
        } finally {
            driver.quit();
            deleteTree(profile);
        }
    }

    private static void type(WebDriver driver, String id, String value) {
        WebElement input = driver.findElement(By.id(id));
        input.clear();
        input.sendKeys(value);
    }

    private static String state(WebDriver driver, String id) {
        return driver.findElement(By.id(id)).getDomAttribute("data-state");
    }

    /** The element's text as the page set it (getText() would fold its whitespace). */
    private static String text(WebDriver driver, String id) {
        return driver.findElement(By.id(id)).getDomProperty("textContent");
    }

    private static boolean isNumber(String s) {
        return s != null && s.matches("-?\\d+(\\.\\d+)?");
    }

    private static Optional<Path> onPath(String command) {
        String path = System.getenv("PATH");
        if (path == null) return Optional.empty();
        return Stream.of(path.split(File.pathSeparator)).map(dir -> Path.of(dir, command))
                .filter(Files::isExecutable).findFirst();
    }

    private static void deleteTree(Path root) throws IOException {
        if (!Files.exists(root)) return;
        List<Path> paths;
        try (Stream<Path> walk = Files.walk(root)) {
            paths = new ArrayList<>(walk.sorted(Comparator.reverseOrder()).toList());
        }
        for (Path p : paths) Files.deleteIfExists(p);
    }
}
