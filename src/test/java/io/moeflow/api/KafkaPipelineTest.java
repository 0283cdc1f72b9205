package io.moeflow.api;

import static io.restassured.RestAssured.given;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.moeflow.api.kafka.PromptConsumer;
import io.moeflow.api.testing.ControllableEngine;
import io.moeflow.api.testing.KafkaClient;
import io.moeflow.api.testing.KafkaServiceTest;
import io.moeflow.api.testing.TestModelRuntime;
import io.moeflow.scheduler.FinishReason;
import io.moeflow.scheduler.TokenEvent;
import io.quarkus.test.junit.QuarkusTest;
import io.restassured.http.ContentType;
import jakarta.inject.Inject;
import java.io.BufferedReader;
import java.io.InputStream;
import java.io.InputStreamReader;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.UUID;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.stream.Collectors;
import java.util.stream.IntStream;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.common.header.Header;
import org.eclipse.microprofile.reactive.messaging.Message;
import org.junit.jupiter.api.Test;

/** Prompts in, token events out, through a real broker and plain Kafka clients. */
@QuarkusTest
class KafkaPipelineTest extends KafkaServiceTest {
    @Inject
    ModelRuntime runtime;
    @Inject
    PromptConsumer consumer;


    private static String id(String what) {
        return what + "-" + UUID.randomUUID();
    }

    /**
     * Indexes 0..n-1 in order, one last event at the end carrying usage; one event per generated token, at most
     * {@code maxTokens} of them and exactly that many when the generation ended by length.
     */
    private static void assertComplete(List<TokenEvent> events, int maxTokens) {
        assertGapFree(events);
        TokenEvent last = events.getLast();
        assertEquals(events.size(), last.usage().completionTokens(), "one event per generated token");
        assertTrue(events.size() <= maxTokens, events.size() + " events for max_tokens " + maxTokens);
        if (last.finish() == FinishReason.LENGTH) assertEquals(maxTokens, events.size());
        else assertEquals(FinishReason.STOP, last.finish());
    }

    /** Indexes 0..n-1 in order, one last event at the end carrying usage. */
    private static void assertGapFree(List<TokenEvent> events) {
        for (int i = 0; i < events.size(); i++) assertEquals(i, events.get(i).index(), "index of event " + i);
        TokenEvent last = events.getLast();
        assertNotNull(last.finish(), "last event has a finish_reason");
        assertNotNull(last.usage(), "last event has usage");
        assertTrue(events.subList(0, events.size() - 1).stream().noneMatch(TokenEvent::last), "only the last event finishes");
    }

    private static String text(List<TokenEvent> events) {
        return events.stream().map(TokenEvent::text).collect(Collectors.joining());
    }

    @Test
    void promptComesBackAsOrderedGapFreeEventsMatchingTheEngine() {
        String id = id("roundtrip");
        kafka.produce(prompts(), id, """
                {"id":"%s","prompt":"Once upon a time","max_tokens":7,"temperature":0.8,"seed":42,
                 "top_k":40,"top_p":0.95,"min_p":0.05,"stop":["never"],"priority":"ignored","extra":{"a":[1]}}""".formatted(id));
        List<TokenEvent> events = kafka.tokenEvents(tokens(), Set.of(id)).get(id);
        assertComplete(events, 7);
        assertEquals(runtime.encode("Once upon a time", true, true).length, events.getLast().usage().promptTokens());
        // The same request over HTTP (same seed and parameters) generates the same text.
        String http = given().contentType(ContentType.JSON)
                .body("{\"prompt\":\"Once upon a time\",\"max_tokens\":7,\"temperature\":0.8,\"seed\":42,\"top_k\":40,\"top_p\":0.95,\"min_p\":0.05}")
                .post("/v1/completions").then().statusCode(200).extract().path("choices[0].text");
        assertEquals(http, text(events));
    }

    /** The sampling options of a Kafka prompt do what they do over HTTP, and its events carry the log-probabilities. */
    @Test
    void samplingOptionsAndLogprobsMatchTheSameRequestOverHttp() throws Exception {
        String id = id("options");
        String options = "\"prompt\":\"Once upon a time\",\"max_tokens\":12,\"temperature\":0.9,\"seed\":8,"
                + "\"frequency_penalty\":1.2,\"presence_penalty\":0.3,\"repeat_penalty\":1.3,\"logit_bias\":{\"383\":-100},\"logprobs\":2";
        kafka.produce(prompts(), id, "{\"id\":\"" + id + "\"," + options + "}");
        List<TokenEvent> events = kafka.tokenEvents(tokens(), Set.of(id)).get(id);
        String http = given().contentType(ContentType.JSON).body("{" + options + "}")
                .post("/v1/completions").then().statusCode(200).extract().asString();
        com.fasterxml.jackson.databind.JsonNode answer = RequestParser.JSON.readTree(http);
        assertEquals(answer.at("/choices/0/text").asText(), text(events));
        var httpLogprobs = answer.at("/choices/0/logprobs/token_logprobs");
        int withLogprobs = 0;
        for (TokenEvent e : events) {
            if (e.logprobs() == null) continue;
            assertEquals(e.token(), e.logprobs().token());
            assertEquals(2, e.logprobs().topTokens().length);
            assertEquals(httpLogprobs.get(withLogprobs).asDouble(), e.logprobs().logprob(), 1e-12);
            withLogprobs++;
        }
        assertEquals(httpLogprobs.size(), withLogprobs);
        assertTrue(withLogprobs > 0);
    }

    @Test
    void twentyConcurrentPromptsAllComplete() {
        List<String> ids = IntStream.range(0, 20).mapToObj(i -> id("many" + i)).toList();
        for (int i = 0; i < ids.size(); i++) {
            String prompt = i % 2 == 0
                    ? "\"prompt\":\"Tell story number " + i + "\""
                    : "\"messages\":[{\"role\":\"user\",\"content\":\"Story " + i + "\"}]";
            kafka.produce(prompts(), ids.get(i), "{\"id\":\"" + ids.get(i) + "\"," + prompt + ",\"max_tokens\":" + (3 + i % 5) + "}");
        }
        Map<String, List<TokenEvent>> events = kafka.tokenEvents(tokens(), Set.copyOf(ids));
        for (int i = 0; i < ids.size(); i++) {
            assertComplete(events.get(ids.get(i)), 3 + i % 5);
        }
    }

    @Test
    void unreadableRecordsGoToTheDeadLetterTopicWithTheReason() {
        Map<String, byte[]> bad = new LinkedHashMap<>();
        Map<String, String> reasons = Map.of(
                "json", "not valid JSON", "utf8", "not valid UTF-8", "array", "must be a JSON object",
                "noid", "\"id\" is missing", "numid", "\"id\" must be a non-empty string", "empty", "value is empty");
        String run = UUID.randomUUID().toString();
        bad.put("json-" + run, "{\"id\":\"x\",\"prompt\":".getBytes(StandardCharsets.UTF_8));
        bad.put("utf8-" + run, new byte[] {'{', '"', 'i', 'd', '"', ':', '"', (byte) 0xC3, (byte) 0x28, '"', '}'});
        bad.put("array-" + run, "[1,2,3]".getBytes(StandardCharsets.UTF_8));
        bad.put("noid-" + run, "{\"prompt\":\"hello\"}".getBytes(StandardCharsets.UTF_8));
        bad.put("numid-" + run, "{\"id\":12,\"prompt\":\"hello\"}".getBytes(StandardCharsets.UTF_8));
        bad.put("empty-" + run, new byte[0]);
        bad.forEach((key, value) -> kafka.produce(prompts(), key, value));
        Map<String, ConsumerRecord<String, byte[]>> dead = kafka.records(config.kafka().topics().dlq(), bad.keySet());
        bad.forEach((key, value) -> {
            ConsumerRecord<String, byte[]> record = dead.get(key);
            assertTrue(java.util.Arrays.equals(value, record.value()), "original bytes kept for " + key);
            Header reason = record.headers().lastHeader("dead-letter-reason");
            assertNotNull(reason, "reason header on " + key);
            String expected = reasons.get(key.substring(0, key.indexOf('-')));
            assertTrue(new String(reason.value(), StandardCharsets.UTF_8).contains(expected),
                    key + ": reason " + new String(reason.value(), StandardCharsets.UTF_8));
        });
        // still serving
        String id = id("after-dlq");
        kafka.produce(prompts(), id, "{\"id\":\"" + id + "\",\"prompt\":\"hello\",\"max_tokens\":2}");
        assertComplete(kafka.tokenEvents(tokens(), Set.of(id)).get(id), 2);
    }

    @Test
    void badValuesGetOneErrorEventNamingTheProblem() {
        Map<String, String> records = new LinkedHashMap<>();
        Map<String, String> expected = new LinkedHashMap<>();
        String longPrompt = "word ".repeat(runtime.contextLength() + 10);
        String[][] cases = {
                {"\"prompt\":\"hi\",\"max_tokens\":-1", "max_tokens must be >= 1"},
                {"\"prompt\":\"hi\",\"temperature\":NaN", "temperature must be a finite number"},
                {"\"prompt\":\"\"", "prompt is empty"},
                {"\"prompt\":\"" + longPrompt + "\"", "context"},
                {"\"max_tokens\":3", "\"prompt\" is required"},
                {"\"prompt\":42", "prompt must be a string"},
                {"\"prompt\":\"hi\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]", "not both"},
                {"\"prompt\":\"hi\",\"top_k\":\"many\"", "top_k must be an integer"},
                {"\"prompt\":\"hi\",\"seed\":1e40", "seed must be a 64-bit integer"},
                {"\"prompt\":\"hi\",\"max_tokens\":99999999999", "max_tokens must be <="},
                {"\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":\"image_url\"}]}]", "only parts of type \"text\""},
        };
        for (String[] c : cases) {
            String id = id("bad");
            records.put(id, "{\"id\":\"" + id + "\"," + c[0] + "}");
            expected.put(id, c[1]);
        }
        records.forEach((id, json) -> kafka.produce(prompts(), id, json));
        Map<String, List<TokenEvent>> events = kafka.tokenEvents(tokens(), records.keySet());
        expected.forEach((id, message) -> {
            List<TokenEvent> e = events.get(id);
            assertEquals(1, e.size(), "one event for " + records.get(id));
            TokenEvent error = e.getFirst();
            assertEquals(0, error.index());
            assertEquals(FinishReason.ERROR, error.finish());
            assertEquals("invalid_request", error.errorCode());
            assertTrue(error.errorMessage().contains(message), records.get(id) + " -> " + error.errorMessage());
        });
    }

    /**
     * The same id twice: generated once. The second record is answered by the first one's events, live when it
     * arrives while the first runs, replayed when it arrives after the first finished (KafkaDeliveryTest).
     */
    @Test
    void aDuplicateIdIsNotGeneratedTwice() {
        String id = id("dup");
        long before = consumer.duplicates() + consumer.replayed();
        String json = "{\"id\":\"" + id + "\",\"prompt\":\"twice told\",\"max_tokens\":3}";
        kafka.produce(prompts(), id, json);
        kafka.produce(prompts(), id, json);
        List<TokenEvent> events = kafka.tokenEvents(tokens(), Set.of(id)).get(id);
        // Both records have the same key, hence the same partition: once the second is counted, both were read.
        long deadline = System.nanoTime() + KafkaClient.WAIT.toNanos();
        while (consumer.duplicates() + consumer.replayed() == before && System.nanoTime() < deadline) Thread.onSpinWait();
        assertEquals(before + 1, consumer.duplicates() + consumer.replayed());
        TestModelRuntime test = (TestModelRuntime) runtime;
        assertEquals(1, test.control().submissions(id));
        assertComplete(events.subList(0, events.stream().filter(TokenEvent::last).findFirst().orElseThrow().index() + 1), 3);
    }

    /**
     * A rebalance can hand this process a record again while its prompt is still generating here. The copy must not
     * be acknowledged before the original: the throttled commit would then commit past a prompt still in flight, and a
     * crash would lose it.
     */
    @Test
    void aCopyOfAPromptInFlightIsAcknowledgedOnlyAfterTheOriginal() throws Exception {
        String id = id("inflight-copy");
        byte[] json = ("{\"id\":\"" + id + "\",\"prompt\":\"told while telling\",\"max_tokens\":4}").getBytes(StandardCharsets.UTF_8);
        AtomicInteger acks = new AtomicInteger();
        CompletableFuture<Integer> originalAcked = new CompletableFuture<>();
        CompletableFuture<Integer> copyAcked = new CompletableFuture<>();
        ControllableEngine engine = ((TestModelRuntime) runtime).control();
        engine.setEventDelay(Duration.ofMillis(300)); // the copy arrives while the original generates
        try {
            consumer.consume(Message.of(json, () -> {
                originalAcked.complete(acks.incrementAndGet());
                return CompletableFuture.completedFuture(null);
            }));
            consumer.consume(Message.of(json, () -> {
                copyAcked.complete(acks.incrementAndGet());
                return CompletableFuture.completedFuture(null);
            }));
            int original = originalAcked.get(KafkaClient.WAIT.toSeconds(), TimeUnit.SECONDS);
            int copy = copyAcked.get(KafkaClient.WAIT.toSeconds(), TimeUnit.SECONDS);
            assertTrue(copy > original, "the copy was acknowledged before the original finished");
            assertEquals(1, engine.submissions(id));
        } finally {
            engine.setEventDelay(Duration.ZERO);
        }
    }

    @Test
    void eventsEndpointStreamsAKafkaSubmittedRequest() throws Exception {
        String id = id("watched");
        HttpClient http = HttpClient.newHttpClient();
        HttpRequest watch = HttpRequest.newBuilder(URI.create("http://localhost:" + port + "/v1/requests/" + id + "/events")).build();
        // Watch before the prompt exists, as a browser would right after producing it.
        CompletableFuture<HttpResponse<InputStream>> live = http.sendAsync(watch, HttpResponse.BodyHandlers.ofInputStream());
        HttpResponse<InputStream> response = live.get();
        assertEquals(200, response.statusCode());
        assertTrue(response.headers().firstValue("content-type").orElse("").startsWith("text/event-stream"));
        kafka.produce(prompts(), id, "{\"id\":\"" + id + "\",\"prompt\":\"a watched story\",\"max_tokens\":5}");
        List<String> lines = readDataLines(response.body());
        List<TokenEvent> streamed = parse(lines);
        assertComplete(streamed, 5);
        // The last event carries the whole text, as its copy in the tokens topic does.
        assertEquals(text(streamed), RequestParser.JSON.readTree(lines.getLast()).path("full_text").textValue());
        assertEquals(text(kafka.tokenEvents(tokens(), Set.of(id)).get(id)), text(streamed));
        // A late watcher gets the whole request from the start.
        List<TokenEvent> replay = readEvents(http.send(watch, HttpResponse.BodyHandlers.ofInputStream()).body());
        assertEquals(streamed, replay);
    }

    private static List<TokenEvent> readEvents(InputStream body) throws Exception {
        return parse(readDataLines(body));
    }

    private static List<String> readDataLines(InputStream body) throws Exception {
        List<String> lines = new ArrayList<>();
        try (BufferedReader reader = new BufferedReader(new InputStreamReader(body, StandardCharsets.UTF_8))) {
            String line;
            while ((line = reader.readLine()) != null) {
                if (line.startsWith("data: ")) lines.add(line.substring(6));
            }
        }
        return lines;
    }

    private static List<TokenEvent> parse(List<String> lines) {
        List<TokenEvent> events = new ArrayList<>();
        for (String line : lines) events.add(io.moeflow.api.kafka.TokenEventJson.parse(line));
        return events;
    }

    @Test
    void aPromptWithAJsonSchemaAnswersValidJsonAsOverHttp() throws Exception {
        String format = "\"response_format\":{\"type\":\"json_schema\",\"json_schema\":{\"name\":\"mood\",\"strict\":true,\"schema\":"
                + io.moeflow.api.http.ResponseFormatTest.SCHEMA + "}}";
        List<String> ids = IntStream.range(0, 4).mapToObj(i -> id("json" + i)).toList();
        for (int i = 0; i < ids.size(); i++) {
            String prompt = i % 2 == 0 ? "\"prompt\":\"Once upon a time\"" : "\"messages\":[{\"role\":\"user\",\"content\":\"Tell a story\"}]";
            kafka.produce(prompts(), ids.get(i), "{\"id\":\"" + ids.get(i) + "\"," + prompt + ",\"temperature\":1,\"seed\":" + i
                    + ",\"max_tokens\":400," + format + "}");
        }
        Map<String, List<TokenEvent>> events = kafka.tokenEvents(tokens(), Set.copyOf(ids));
        var validator = com.networknt.schema.JsonSchemaFactory.getInstance(com.networknt.schema.SpecVersion.VersionFlag.V202012)
                .getSchema(RequestParser.JSON.readTree(io.moeflow.api.http.ResponseFormatTest.SCHEMA));
        for (int i = 0; i < ids.size(); i++) {
            List<TokenEvent> e = events.get(ids.get(i));
            assertGapFree(e);
            assertEquals(FinishReason.STOP, e.getLast().finish(), text(e));
            assertEquals(Set.of(), validator.validate(io.moeflow.api.http.ResponseFormatTest.STRICT.readTree(text(e))), text(e));
        }
        String http = given().contentType(ContentType.JSON)
                .body("{\"prompt\":\"Once upon a time\",\"temperature\":1,\"seed\":0,\"max_tokens\":400," + format + "}")
                .post("/v1/completions").then().statusCode(200).extract().path("choices[0].text");
        assertEquals(http, text(events.get(ids.getFirst())), "the same request over HTTP gives the same JSON");
    }
}
