package io.moeflow.api.http;

import static io.restassured.RestAssured.given;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.moeflow.api.GgufModelRuntime;
import io.moeflow.api.RequestParser;
import io.moeflow.api.testing.Browser;
import io.moeflow.api.testing.BudgetedMoeProfile;
import io.moeflow.api.testing.Ready;
import io.moeflow.experts.ExpertStore;
import io.quarkus.test.common.http.TestHTTPResource;
import io.quarkus.test.junit.QuarkusTest;
import io.quarkus.test.junit.TestProfile;
import io.restassured.http.ContentType;
import io.restassured.path.json.JsonPath;
import jakarta.inject.Inject;
import java.net.URL;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.openqa.selenium.By;
import org.openqa.selenium.JavascriptExecutor;
import org.openqa.selenium.WebElement;

/**
 * The playground's chat transcript and expert map in headless Chromium, on the tiny synthetic MoE served from a
 * budgeted expert store ({@link BudgetedMoeProfile}, shared with BudgetedServiceTest): a
 * multi-turn conversation against the real model (each reply is the one the API gives for the same messages), the
 * OpenAI reasoning and tool-call fields rendered from stubbed answers (stream and whole), and the heatmap of
 * GET /v1/stats/experts drawn with the experts that ran and the ones the cache holds, also at 64 x 384.
 */
@QuarkusTest
@TestProfile(BudgetedMoeProfile.class)
class PlaygroundChatBrowserTest {
    private static final String SYSTEM = "You tell short stories.";
    private static final int MAX_TOKENS = 8;

    @TestHTTPResource("/")
    URL page;
    @Inject
    GgufModelRuntime runtime;

    /** Keeps each chat request's body in window.sentBodies (the requests still go to the server). */
    private static final String RECORD_BODIES = """
            window.sentBodies = [];
            const realFetch = window.fetch;
            window.fetch = (url, options) => {
              if (url === '/v1/chat/completions') window.sentBodies.push(JSON.parse(options.body));
              return realFetch(url, options);
            };
            """;

    @Test
    void expertStatsCountTheRoutedTokensAndNameTheCachedExperts() throws Exception {
        Ready.await();
        JsonPath done = given().contentType(ContentType.JSON)
                .body("{\"prompt\":\"Once upon a time\",\"max_tokens\":6,\"temperature\":0}")
                .when().post("/v1/completions").then().statusCode(200).extract().jsonPath();
        int fed = done.getInt("usage.prompt_tokens") + done.getInt("usage.completion_tokens") - 1;

        JsonPath stats = given().when().get("/v1/stats/experts?window=60").then().statusCode(200).extract().jsonPath();
        assertEquals("moeflow.expert_stats", stats.getString("object"));
        assertEquals(60, stats.getInt("window_seconds"));
        assertEquals("budgeted", stats.getString("expert_mode"));
        int layers = stats.getInt("layers");
        int experts = stats.getInt("experts");
        assertEquals(runtime.scheduler().modelInfo().layers(), layers);
        assertEquals(runtime.scheduler().modelInfo().expertCount(), experts);
        List<List<Number>> counts = stats.getList("counts");
        List<List<Number>> resident = stats.getList("resident");
        ExpertStore store = runtime.model().expertStore();
        int residentTotal = 0;
        for (int l = 0; l < layers; l++) {
            long sum = 0;
            for (Number c : counts.get(l)) sum += c.longValue();
            // this request's tokens at least (other tests of this application may have run in the last minute)
            assertTrue(sum >= (long) fed * runtime.scheduler().modelInfo().expertUsedCount(), "layer " + l + ": " + sum);
            for (Number e : resident.get(l)) assertTrue(e.intValue() >= 0 && e.intValue() < experts, "layer " + l + " expert " + e);
            residentTotal += resident.get(l).size();
        }
        assertTrue(residentTotal > 0 && residentTotal <= store.slots(), residentTotal + " of " + store.slots() + " slots");

        given().when().get("/v1/stats/experts?window=0").then().statusCode(400)
                .body("error.param", org.hamcrest.Matchers.equalTo("window"));
        given().when().get("/v1/stats/experts?window=x").then().statusCode(400);
    }

    @Test
    void multiTurnChatKeepsTheConversationAndTheHeatmapShowsTheExpertsThatRan() throws Exception {
        try (Browser browser = Browser.start()) {
            Ready.await();
            browser.driver.get(page.toString());
            JavascriptExecutor js = (JavascriptExecutor) browser.driver;
            js.executeScript(RECORD_BODIES);
            browser.type("temperature", "0");
            browser.type("max_tokens", Integer.toString(MAX_TOKENS));
            browser.type("system-prompt", SYSTEM);

            ArrayNode history = RequestParser.JSON.createArrayNode();
            history.addObject().put("role", "system").put("content", SYSTEM);
            String[] turns = {"Once upon a time", "Then what happened?"};
            for (int turn = 0; turn < turns.length; turn++) {
                history.addObject().put("role", "user").put("content", turns[turn]);
                String expected = directReply(history);
                browser.type("chat-input", turns[turn]);
                browser.click("chat-send");
                assertEquals("done", browser.awaitSettled("chat-status"), browser.text("chat-error"));
                List<WebElement> items = messages(browser);
                assertEquals(2 * (turn + 1), items.size());
                assertEquals("user", items.get(2 * turn).getDomAttribute("data-role"));
                assertEquals(turns[turn], content(items.get(2 * turn)));
                assertEquals("assistant", items.get(2 * turn + 1).getDomAttribute("data-role"));
                assertEquals(expected, content(items.get(2 * turn + 1)), "turn " + turn);
                // what the page sent: the system prompt and the whole conversation so far
                JsonNode sent = RequestParser.JSON.valueToTree(js.executeScript("return window.sentBodies[" + turn + "]"));
                assertEquals(history, sent.get("messages"));
                assertTrue(sent.get("stream").asBoolean());
                history.addObject().put("role", "assistant").put("content", expected);
            }

            // the heatmap: the experts that ran are drawn, and the ones the budgeted cache holds are marked
            browser.wait.until(d -> Integer.parseInt(attribute(browser, "expert-map", "data-nonzero")) > 0);
            browser.wait.until(d -> Integer.parseInt(attribute(browser, "expert-map", "data-resident")) > 0);
            assertTrue(browser.text("expert-summary").contains("in the budgeted cache"), browser.text("expert-summary"));
            assertTrue(busiestCellIsDrawn(js), "the busiest expert's cell is coloured");

            // a new conversation forgets the old one
            browser.click("chat-new");
            assertEquals(0, messages(browser).size());
            browser.type("chat-input", turns[0]);
            browser.click("chat-send");
            assertEquals("done", browser.awaitSettled("chat-status"), browser.text("chat-error"));
            JsonNode fresh = RequestParser.JSON.valueToTree(js.executeScript("return window.sentBodies[2]"));
            assertEquals(2, fresh.get("messages").size(), fresh.toString());
            assertEquals(2, messages(browser).size());
        }
    }

    /** A stubbed /v1/chat/completions answering {@code sse} (stream) or {@code json} (whole), recording bodies. */
    private static String stubChat(String sse, String json) {
        return """
                window.sentBodies = [];
                const realFetch = window.fetch;
                window.fetch = (url, options) => {
                  if (url !== '/v1/chat/completions') return realFetch(url, options);
                  const body = JSON.parse(options.body);
                  window.sentBodies.push(body);
                  const headers = { 'Content-Type': body.stream ? 'text/event-stream' : 'application/json' };
                  return Promise.resolve(new Response(body.stream ? %s : %s, { status: 200, headers }));
                };
                """.formatted(quote(sse), quote(json));
    }

    private static String quote(String s) {
        return RequestParser.JSON.getNodeFactory().textNode(s).toString();
    }

    private static String chunk(String delta, String finish) {
        return "data: {\"id\":\"chatcmpl-1\",\"object\":\"chat.completion.chunk\",\"choices\":[{\"index\":0,\"delta\":"
                + delta + ",\"finish_reason\":" + (finish == null ? "null" : "\"" + finish + "\"") + "}]}\n\n";
    }

    @Test
    void reasoningIsFoldedAndToolCallsAreShownFromStreamedDeltasAndWholeMessages() throws Exception {
        String sse = chunk("{\"role\":\"assistant\",\"content\":\"\"}", null)
                + chunk("{\"reasoning_content\":\"The user wants \"}", null)
                + chunk("{\"reasoning_content\":\"the weather.\"}", null)
                + chunk("{\"content\":\"Let me \"}", null)
                + chunk("{\"content\":\"check.\"}", null)
                + chunk("{\"tool_calls\":[{\"index\":0,\"id\":\"call_1\",\"type\":\"function\",\"function\":{\"name\":\"get_weather\",\"arguments\":\"\"}}]}", null)
                + chunk("{\"tool_calls\":[{\"index\":0,\"function\":{\"arguments\":\"{\\\"city\\\":\"}}]}", null)
                + chunk("{\"tool_calls\":[{\"index\":0,\"function\":{\"arguments\":\"\\\"Paris\\\"}\"}}]}", null)
                + chunk("{\"tool_calls\":[{\"index\":1,\"id\":\"call_2\",\"type\":\"function\",\"function\":{\"name\":\"get_time\",\"arguments\":\"{}\"}}]}", null)
                + chunk("{}", "tool_calls")
                + "data: [DONE]\n\n";
        String json = """
                {"id":"chatcmpl-2","object":"chat.completion","choices":[{"index":0,"finish_reason":"tool_calls",
                 "message":{"role":"assistant","content":"Done.","reasoning_content":"Second thoughts.",
                  "tool_calls":[{"id":"call_3","type":"function","function":{"name":"lookup","arguments":"{\\"q\\":[1,2]}"}}]}}]}
                """;
        try (Browser browser = Browser.start()) {
            Ready.await();
            browser.driver.get(page.toString());
            JavascriptExecutor js = (JavascriptExecutor) browser.driver;
            js.executeScript(stubChat(sse, json));

            browser.type("chat-input", "Weather in Paris?");
            browser.click("chat-send");
            assertEquals("done", browser.awaitSettled("chat-status"), browser.text("chat-error"));
            assertEquals("Finished: tool_calls", browser.driver.findElement(By.id("chat-status")).getText());
            WebElement reply = messages(browser).get(1);
            WebElement reasoning = reply.findElement(By.cssSelector("details.reasoning"));
            assertNull(reasoning.getDomAttribute("open"), "the reasoning is folded");
            assertEquals("The user wants the weather.", reasoning.findElement(By.tagName("pre")).getDomProperty("textContent"));
            assertFalse(reasoning.findElement(By.tagName("pre")).isDisplayed(), "folded: not shown until opened");
            reasoning.findElement(By.tagName("summary")).click();
            assertTrue(reasoning.findElement(By.tagName("pre")).isDisplayed(), "opened on a click");
            assertEquals("Let me check.", content(reply));
            List<WebElement> calls = reply.findElements(By.cssSelector(".tool-call"));
            assertEquals(2, calls.size());
            assertEquals("get_weather", calls.get(0).findElement(By.cssSelector(".tool-name")).getText());
            assertEquals(RequestParser.JSON.readTree("{\"city\":\"Paris\"}"), RequestParser.JSON.readTree(
                    calls.get(0).findElement(By.cssSelector(".tool-arguments")).getDomProperty("textContent")));
            assertEquals("call_1", calls.get(0).getDomAttribute("data-id"));
            assertEquals("get_time", calls.get(1).findElement(By.cssSelector(".tool-name")).getText());

            // the whole (non-streamed) answer's message fields, and the history sent with the next turn
            browser.click("chat-stream");
            browser.type("chat-input", "And now?");
            browser.click("chat-send");
            assertEquals("done", browser.awaitSettled("chat-status"), browser.text("chat-error"));
            WebElement whole = messages(browser).get(3);
            assertEquals("Second thoughts.", whole.findElement(By.cssSelector("details.reasoning pre")).getDomProperty("textContent"));
            assertEquals("Done.", content(whole));
            assertEquals("lookup", whole.findElement(By.cssSelector(".tool-name")).getText());
            JsonNode second = RequestParser.JSON.valueToTree(js.executeScript("return window.sentBodies[1]"));
            assertFalse(second.get("stream").asBoolean());
            JsonNode assistant = second.get("messages").get(1);
            assertEquals("assistant", assistant.get("role").asText());
            assertEquals("Let me check.", assistant.get("content").asText());
            assertNull(assistant.get("reasoning_content"), "reasoning stays in the page");
            assertEquals("get_weather", assistant.at("/tool_calls/0/function/name").asText());
            assertEquals("{\"city\":\"Paris\"}", assistant.at("/tool_calls/0/function/arguments").asText());
            assertEquals("call_2", assistant.at("/tool_calls/1/id").asText());
        }
    }

    @Test
    void theHeatmapDrawsSixtyFourLayersOfThreeHundredEightyFourExperts() throws Exception {
        try (Browser browser = Browser.start()) {
            Ready.await();
            browser.driver.get(page.toString());
            JavascriptExecutor js = (JavascriptExecutor) browser.driver;
            // Kimi-K2's shape: 64 layers (the first dense) x 384 experts; expert e of layer l ran (l + e) % 7 times
            js.executeScript("""
                    const counts = [null];
                    const resident = [null];
                    for (let l = 1; l < 64; l++) {
                      counts.push(Array.from({ length: 384 }, (_, e) => (l + e) % 7));
                      resident.push([l, 383]);
                    }
                    const body = { object: 'moeflow.expert_stats', state: 'ready', window_seconds: 10, layers: 64,
                      experts: 384, counts, expert_mode: 'budgeted', resident };
                    const realFetch = window.fetch;
                    window.fetch = (url, options) => url.startsWith('/v1/stats/experts')
                      ? Promise.resolve(new Response(JSON.stringify(body), { headers: { 'Content-Type': 'application/json' } }))
                      : realFetch(url, options);
                    """);
            int nonzero = 0;
            for (int l = 1; l < 64; l++) for (int e = 0; e < 384; e++) if ((l + e) % 7 != 0) nonzero++;
            int expected = nonzero;
            browser.wait.until(d -> Integer.toString(expected).equals(attribute(browser, "expert-map", "data-nonzero")));
            assertEquals(Integer.toString(63 * 2), attribute(browser, "expert-map", "data-resident"));
            Map<?, ?> map = (Map<?, ?>) js.executeScript("return { w: expertMap.w, h: expertMap.h,"
                    + " width: document.getElementById('expert-map').width, height: document.getElementById('expert-map').height }");
            long w = ((Number) map.get("w")).longValue();
            long h = ((Number) map.get("h")).longValue();
            assertEquals(384 * w, ((Number) map.get("width")).longValue());
            assertEquals(64 * h, ((Number) map.get("height")).longValue());
            assertTrue(busiestCellIsDrawn(js), "the busiest expert's cell is coloured");
            // a dense row is grey, a zero cell white, the resident mark orange
            assertEquals(List.of(235L, 235L, 235L), pixel(js, 0, 0, 0.5));
            assertEquals(List.of(255L, 255L, 255L), pixel(js, 7, 0, 0)); // (7 + 0) % 7 == 0, top of the cell
            assertEquals(List.of(230L, 120L, 0L), pixel(js, 5, 383, 1.0));
        }
    }

    private static List<WebElement> messages(Browser browser) {
        return browser.driver.findElements(By.cssSelector("#transcript > li"));
    }

    private static String content(WebElement message) {
        return message.findElement(By.cssSelector(".content")).getDomProperty("textContent");
    }

    private static String attribute(Browser browser, String id, String name) {
        String value = browser.driver.findElement(By.id(id)).getDomAttribute(name);
        return value == null ? "0" : value;
    }

    /** The RGB of cell (layer, expert) at {@code v} of its height (0 top, 1 bottom row), read from the canvas. */
    @SuppressWarnings("unchecked")
    private static List<Long> pixel(JavascriptExecutor js, int layer, int expert, double v) {
        return (List<Long>) js.executeScript("""
                const [l, e, v] = arguments;
                const y = l * expertMap.h + Math.min(expertMap.h - 1, Math.floor(v * expertMap.h));
                const p = document.getElementById('expert-map').getContext('2d').getImageData(e * expertMap.w, y, 1, 1).data;
                return [p[0], p[1], p[2]];
                """, layer, expert, v);
    }

    /** Whether the top-left pixel of the cell with the largest count is darker than an idle cell. */
    private static boolean busiestCellIsDrawn(JavascriptExecutor js) {
        Map<?, ?> best = (Map<?, ?>) js.executeScript("""
                let best = { l: -1, e: -1, c: 0 };
                expertMap.stats.counts.forEach((row, l) => (row || []).forEach((c, e) => { if (c > best.c) best = { l, e, c }; }));
                return best;
                """);
        assertNotNull(best);
        int l = ((Number) best.get("l")).intValue();
        int e = ((Number) best.get("e")).intValue();
        if (l < 0) return false;
        List<Long> rgb = pixel(js, l, e, 0);
        return rgb.get(0) < 100 && rgb.get(2) < 200; // dark blue at the maximum
    }

    /** The assistant text the API gives for {@code messages} (greedy, so the page must show the same). */
    private static String directReply(ArrayNode messages) {
        ObjectNode body = RequestParser.JSON.createObjectNode();
        body.set("messages", messages);
        body.put("max_tokens", MAX_TOKENS).put("temperature", 0);
        return given().contentType(ContentType.JSON).body(body.toString()).when().post("/v1/chat/completions")
                .then().statusCode(200).extract().path("choices[0].message.content");
    }
}
