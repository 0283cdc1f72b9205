package io.moeflow.api;

import static io.restassured.RestAssured.given;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import io.moeflow.api.kafka.PromptConsumer;
import io.moeflow.api.kafka.TokenEventJson;
import io.moeflow.api.kafka.TokenEventTail;
import io.moeflow.api.kafka.TokenOrigin;
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
import java.io.InputStreamReader;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.UUID;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.stream.Collectors;
import java.util.stream.IntStream;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.junit.jupiter.api.Test;

/**
 * The delivery contract of the Kafka interface, through a real broker: one generation per id whatever happens
 * (resumption after published events, replay for a rerun of a finished id), routing headers and the whole text on
 * the last event, preparation that a slow prompt cannot block, HTTP generations private by default, and an events
 * cache that stays bounded whoever watches.
 */
@QuarkusTest
class KafkaDeliveryTest extends KafkaServiceTest {
    private static final String TRACEPARENT = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

    @Inject
    ModelRuntime runtime;
    @Inject
    PromptConsumer consumer;
    @Inject
    TokenEventTail tail;


    private ControllableEngine engine() {
        return ((TestModelRuntime) runtime).control();
    }

    private static String id(String what) {
        return what + "-" + UUID.randomUUID();
    }

    private static String header(ConsumerRecord<String, String> r, String name) {
        return TokenOrigin.header(r.headers(), name);
    }

    private static List<TokenEvent> events(List<ConsumerRecord<String, String>> records) {
        return records.stream().map(r -> TokenEventJson.parse(r.value())).toList();
    }

    private static String text(List<TokenEvent> events) {
        return events.stream().map(TokenEvent::text).collect(Collectors.joining());
    }

    @Test
    void tokenEventsCarryRoutingHeadersAndTheLastOneTheWholeTextAndUsage() throws Exception {
        String traced = id("traced"), untraced = id("untraced");
        kafka.produce(prompts(), traced, "{\"id\":\"" + traced + "\",\"prompt\":\"Once upon a time\",\"max_tokens\":6}",
                "traceparent", TRACEPARENT);
        // A malformed traceparent is client data that routes nothing: it is not copied.
        kafka.produce(prompts(), untraced, "{\"id\":\"" + untraced + "\",\"prompt\":\"Once upon a time\",\"max_tokens\":6}",
                "traceparent", "00-not-a-trace\nERROR forged");
        Map<String, List<ConsumerRecord<String, String>>> records = kafka.tokenRecords(tokens(), Set.of(traced, untraced), 1);
        for (String id : List.of(traced, untraced)) {
            for (ConsumerRecord<String, String> r : records.get(id)) {
                assertEquals("application/json", header(r, TokenOrigin.CONTENT_TYPE));
                assertEquals(id, header(r, TokenOrigin.REQUEST_ID));
                assertEquals(prompts(), header(r, TokenOrigin.PROMPT_RECORD).substring(0, prompts().length()), "prompt record of " + r.value());
                assertNull(header(r, TokenOrigin.REPLAY));
            }
            List<TokenEvent> events = events(records.get(id));
            JsonNode last = RequestParser.JSON.readTree(records.get(id).getLast().value());
            assertEquals(text(events), last.path("full_text").asText(null), "full_text is every event's text joined");
            assertEquals(events.size(), last.path("usage").path("completion_tokens").asInt());
            for (ConsumerRecord<String, String> r : records.get(id).subList(0, events.size() - 1)) {
                assertFalse(RequestParser.JSON.readTree(r.value()).has("full_text"), "full_text only on the last event");
            }
        }
        assertTrue(records.get(traced).stream().allMatch(r -> TRACEPARENT.equals(header(r, TokenOrigin.TRACEPARENT))));
        assertTrue(records.get(untraced).stream().allMatch(r -> header(r, TokenOrigin.TRACEPARENT) == null));
    }

    /**
     * A batch job that runs the same ids again gets each finished request's answer again: the same events,
     * unchanged, marked as a replay; nothing is generated twice.
     */
    @Test
    void aRerunOfAFinishedIdReplaysItsEventsUnchanged() throws Exception {
        String id = id("rerun");
        String json = "{\"id\":\"" + id + "\",\"prompt\":\"Once upon a time\",\"max_tokens\":5,\"temperature\":0.8}";
        kafka.produce(prompts(), id, json);
        List<ConsumerRecord<String, String>> first = kafka.tokenRecords(tokens(), Set.of(id), 1).get(id);
        long replayedBefore = consumer.replayed();
        kafka.produce(prompts(), id, json);
        List<ConsumerRecord<String, String>> all = kafka.tokenRecords(tokens(), Set.of(id), 2).get(id);
        List<ConsumerRecord<String, String>> again = all.subList(first.size(), all.size());
        assertEquals(first.stream().map(ConsumerRecord::value).toList(), again.stream().map(ConsumerRecord::value).toList(),
                "the rerun's events are the finished request's, unchanged");
        assertTrue(again.stream().allMatch(r -> "true".equals(header(r, TokenOrigin.REPLAY))), "replayed events say so");
        assertTrue(first.stream().noneMatch(r -> header(r, TokenOrigin.REPLAY) != null));
        // each answers its own record
        assertFalse(header(first.getFirst(), TokenOrigin.PROMPT_RECORD).equals(header(again.getFirst(), TokenOrigin.PROMPT_RECORD)));
        assertEquals(1, engine().submissions(id), "generated once");
        assertEquals(replayedBefore + 1, consumer.replayed());
    }

    /**
     * A prompt whose id already has events 0..k-1 in the topic (an attempt cut off by a crash) continues after them:
     * the engine gets those tokens as generated, and the de-duplicated stream is the uninterrupted generation.
     */
    @Test
    void aPromptWithPublishedEventsResumesAfterThem() throws Exception {
        String reference = id("whole"), cut = id("cut");
        String body = "\"prompt\":\"Lily went to the park\",\"max_tokens\":12,\"temperature\":0.9,\"seed\":7";
        kafka.produce(prompts(), reference, "{\"id\":\"" + reference + "\"," + body + "}");
        List<TokenEvent> whole = kafka.tokenEvents(tokens(), Set.of(reference)).get(reference);
        assertTrue(whole.size() > 6, "a long enough generation: " + whole);
        int k = 5;
        // An earlier attempt of `cut` that published its first k events and then died.
        try (KafkaProducer<String, String> producer = KafkaClient.stringProducer(bootstrap)) {
            for (TokenEvent e : whole.subList(0, k)) {
                TokenEvent earlier = new TokenEvent(cut, e.index(), e.token(), e.text(), null, null, null, null);
                producer.send(new ProducerRecord<>(tokens(), cut, TokenEventJson.toString(earlier))).get();
            }
        }
        tail.sync(System.currentTimeMillis() - 60_000).get(KafkaClient.WAIT.toSeconds(), TimeUnit.SECONDS);
        assertEquals(k, tail.history().find(cut).published());
        long resumedBefore = consumer.resumed();
        kafka.produce(prompts(), cut, "{\"id\":\"" + cut + "\"," + body + "}");
        List<TokenEvent> events = kafka.tokenEvents(tokens(), Set.of(cut)).get(cut);
        assertEquals(k, engine().resumedAfter(cut), "the engine continued after the published tokens");
        assertEquals(resumedBefore + 1, consumer.resumed());
        List<Integer> indexes = events.stream().map(TokenEvent::index).toList();
        assertEquals(IntStream.range(0, whole.size()).boxed().toList(), indexes, "each index exactly once, none written again");
        assertEquals(text(whole), text(events), "the same numerics continue the same generation");
        assertEquals(whole.getLast().usage(), events.getLast().usage());
    }

    /**
     * A prompt whose preparation does not end holds up no other (they are prepared side by side) and goes to the
     * dead letter topic with the reason once moeflow.kafka.prepare-timeout has passed, instead of being redelivered.
     */
    @Test
    void aSlowPreparationBlocksNoOtherPromptAndGoesToTheDeadLetterTopic() throws Exception {
        String marker = "slow-" + UUID.randomUUID();
        CountDownLatch release = new CountDownLatch(1);
        TestModelRuntime test = (TestModelRuntime) runtime;
        test.blockEncoding(marker, release);
        String slow = id("slow");
        List<String> fast = IntStream.range(0, 3).mapToObj(i -> id("fast" + i)).toList();
        try {
            kafka.produce(prompts(), slow, "{\"id\":\"" + slow + "\",\"prompt\":\"" + marker + "\",\"max_tokens\":3}");
            for (String id : fast) kafka.produce(prompts(), id, "{\"id\":\"" + id + "\",\"prompt\":\"quick one\",\"max_tokens\":3}");
            Map<String, List<TokenEvent>> done = kafka.tokenEvents(tokens(), Set.copyOf(fast));
            assertEquals(1, release.getCount(), "the slow preparation is still running");
            for (String id : fast) assertEquals(FinishReason.LENGTH, done.get(id).getLast().finish());
            ConsumerRecord<String, byte[]> dead = kafka.records(config.kafka().topics().dlq(), Set.of(slow)).get(slow);
            String reason = new String(dead.headers().lastHeader("dead-letter-reason").value(), StandardCharsets.UTF_8);
            assertTrue(reason.contains("moeflow.kafka.prepare-timeout"), reason);
            assertTrue(new String(dead.value(), StandardCharsets.UTF_8).contains(marker), "the original record");
        } finally {
            release.countDown();
            test.blockEncoding(null, null);
        }
        assertEquals(0, engine().submissions(slow), "the slow prompt never reached the engine");
        tail.sync(System.currentTimeMillis() - 60_000).get(KafkaClient.WAIT.toSeconds(), TimeUnit.SECONDS);
        assertNull(tail.history().find(slow), "no event for the dead-lettered prompt");
    }

    /** HTTP generations are not written to the tokens topic by default, yet this replica serves their events. */
    @Test
    void httpGenerationsArePrivateByDefaultAndWatchableHere() throws Exception {
        assertFalse(config.kafka().publishHttpEvents());
        String id = given().contentType(ContentType.JSON)
                .body("{\"prompt\":\"Once upon a time\",\"max_tokens\":4,\"temperature\":0}")
                .post("/v1/completions").then().statusCode(200).extract().path("id");
        List<String> lines = sse("/v1/requests/" + id + "/events");
        List<TokenEvent> watched = lines.stream().filter(l -> l.startsWith("data: "))
                .map(l -> TokenEventJson.parse(l.substring(6))).toList();
        assertEquals(4, watched.size(), "the whole generation for this replica's watcher: " + lines);
        assertTrue(watched.getLast().last());
        tail.sync(System.currentTimeMillis() - 60_000).get(KafkaClient.WAIT.toSeconds(), TimeUnit.SECONDS);
        assertNull(tail.history().find(id), "nothing of an HTTP generation in the tokens topic");
    }

    /**
     * 10,000 requests' events pass through the tokens topic while an id nobody uses is watched: the cache stays
     * within its limits of requests and bytes all the time (the watcher pins nothing), and the watcher gets a clear
     * end once moeflow.events.unknown-timeout has passed.
     */
    @Test
    void theEventsCacheStaysBoundedOverTenThousandRequestsWhileAnUnknownIdIsWatched() throws Exception {
        String unknown = id("nobody");
        CompletableFuture<List<String>> watch = CompletableFuture.supplyAsync(() -> {
            try {
                return sse("/v1/requests/" + unknown + "/events");
            } catch (Exception e) {
                throw new IllegalStateException(e);
            }
        });
        String run = UUID.randomUUID().toString().substring(0, 8);
        int requests = 10_000, maxRequests = config.events().cacheRequests();
        long maxBytes = config.events().cacheBytes();
        List<Integer> sizes = new ArrayList<>();
        try (KafkaProducer<String, String> producer = KafkaClient.stringProducer(bootstrap)) {
            for (int r = 0; r < requests; r++) {
                String id = "flood-" + run + "-" + r;
                for (int i = 0; i < 3; i++) {
                    TokenEvent e = new TokenEvent(id, i, 100 + i, "word ".repeat(20), i == 2 ? FinishReason.STOP : null,
                            i == 2 ? new TokenEvent.Usage(4, 3) : null, null, null);
                    producer.send(new ProducerRecord<>(tokens(), id, TokenEventJson.toString(e)));
                }
                if (r % 1000 == 999) {
                    producer.flush();
                    tail.sync(System.currentTimeMillis() - 60_000).get(KafkaClient.WAIT.toSeconds(), TimeUnit.SECONDS);
                    sizes.add(tail.cache().requests());
                    assertTrue(tail.cache().requests() <= maxRequests, "cached requests " + tail.cache().requests());
                    assertTrue(tail.cache().bytes() <= maxBytes, "cached bytes " + tail.cache().bytes());
                }
            }
        }
        assertEquals(maxRequests, sizes.getLast(), "the cache is full, not empty: " + sizes);
        List<String> lines = watch.get(KafkaClient.WAIT.toSeconds(), TimeUnit.SECONDS);
        int end = lines.indexOf("event: end");
        assertTrue(end >= 0, "an end event: " + lines);
        JsonNode data = RequestParser.JSON.readTree(lines.get(end + 1).substring("data: ".length()));
        assertEquals("request_not_found", data.path("error").path("code").asText());
        assertEquals(unknown, data.path("id").asText());
        assertTrue(lines.stream().noneMatch(l -> l.startsWith("data: {\"id\":\"flood")), "no other request's events");
        assertEquals(0, tail.cache().watchers(), "the watcher is gone");
    }

    /** Readiness and liveness report the cluster (RestartIT kills and restarts real brokers). */
    @Test
    void healthReportsTheKafkaCluster() {
        for (String path : List.of("/q/health/ready", "/q/health/live")) {
            List<Map<String, Object>> checks = given().get(path).then().statusCode(200).extract().path("checks");
            Map<String, Object> kafka = checks.stream().filter(c -> "kafka-broker".equals(c.get("name"))).findFirst()
                    .orElseThrow(() -> new AssertionError("no kafka-broker check in " + path + ": " + checks));
            assertEquals("UP", kafka.get("status"));
            @SuppressWarnings("unchecked")
            Map<String, Object> data = (Map<String, Object>) kafka.get("data");
            assertEquals(bootstrap, data.get("bootstrap_servers"));
            assertEquals(true, data.get("reachable"));
        }
    }

    /** The lines of an SSE response, until the server ends it. */
    private List<String> sse(String path) throws Exception {
        HttpResponse<java.io.InputStream> response = HttpClient.newHttpClient().send(
                HttpRequest.newBuilder(URI.create("http://localhost:" + port + path)).build(),
                HttpResponse.BodyHandlers.ofInputStream());
        assertEquals(200, response.statusCode());
        List<String> lines = new ArrayList<>();
        try (BufferedReader reader = new BufferedReader(new InputStreamReader(response.body(), StandardCharsets.UTF_8))) {
            for (String line; (line = reader.readLine()) != null; ) if (!line.isEmpty()) lines.add(line);
        }
        return lines;
    }
}
