package io.moeflow.api;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.moeflow.api.kafka.EmbeddedKafkaBroker;
import io.moeflow.api.kafka.EmbeddedKafkaMain;
import io.moeflow.api.kafka.TokenEventJson;
import io.moeflow.api.testing.KafkaClient;
import io.moeflow.api.testing.KafkaTestResource;
import io.moeflow.gguf.GgufFile;
import io.moeflow.tokenizer.Tokenizer;
import io.moeflow.tokenizer.Vocabulary;
import io.moeflow.scheduler.FinishReason;
import io.moeflow.scheduler.TokenEvent;
import java.io.IOException;
import java.net.ServerSocket;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.Set;
import java.util.TreeMap;
import java.util.TreeSet;
import java.util.UUID;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.function.Predicate;
import java.util.stream.Collectors;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AdminClientConfig;
import org.apache.kafka.clients.admin.ListOffsetsResult;
import org.apache.kafka.clients.admin.OffsetSpec;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.serialization.StringDeserializer;
import org.apache.kafka.common.test.KafkaClusterTestKit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * After `package` (failsafe): the packaged service runs as a child JVM against a real broker and is disrupted in the
 * middle of generating several Kafka prompts: SIGKILL (a crash) followed by a restart whose logits are perturbed,
 * SIGTERM (a graceful stop whose grace period is too short for them to finish) followed by a restart, a kill -9 of an
 * external broker (restarted by the test, then killed again before a SIGTERM of the service), and a kill -9 of the
 * service's own embedded broker (restarted by the service). Every request must then be completed, and a consumer
 * that de-duplicates token events on (id, index) must see each index exactly once, one coherent generation (the
 * restarted process continues after what was published, never writing an index again), and no "cancelled" or
 * "error" event.
 */
class RestartIT {
    /** Bound of each wait; a healthy run needs a fraction of it. */
    private static final Duration WAIT = Duration.ofSeconds(90);
    /** Events every prompt must have produced before the service is stopped (the stop is mid-generation). */
    private static final int EVENTS_BEFORE_STOP = 3;
    /** A SIGTERM must end the service well inside Kubernetes' default grace of 60 s, even with the broker gone. */
    private static final Duration SHUTDOWN_BOUND = Duration.ofSeconds(40);
    /** Amplitude of the test-only logit noise of the restarted process in the KILL scenario. */
    private static final String LOGIT_NOISE = "2.0";
    private static final Path WORK_DIR = Path.of("target", "restart-it").toAbsolutePath();
    private static final Path MODEL = Path.of("models/stories260K/stories260K.gguf").toAbsolutePath();
    private static final HttpClient HTTP = HttpClient.newHttpClient();

    /**
     * Several sampled prompts (fixed seeds, so the HTTP reference repeats them) and one greedy one. max_tokens
     * exceeds stories260K's context of 128, so each runs until end of text or the context is full.
     */
    private static final List<String> BODIES = List.of(
            "{\"prompt\":\"Once upon a time\",\"max_tokens\":300,\"temperature\":0.8,\"seed\":1}",
            "{\"prompt\":\"Once upon a time\",\"max_tokens\":300,\"temperature\":0.8,\"seed\":2}",
            "{\"prompt\":\"The little dog\",\"max_tokens\":400,\"temperature\":1.0,\"top_k\":40,\"seed\":3}",
            "{\"prompt\":\"Lily went to the park\",\"max_tokens\":200,\"temperature\":0.9,\"top_p\":0.9,\"seed\":4}",
            "{\"prompt\":\"Tom had a red ball\",\"max_tokens\":300,\"temperature\":0}");

    private static KafkaClusterTestKit cluster;
    private static GgufFile modelFile;
    private static Tokenizer tokenizer;

    @BeforeAll
    static void startBroker() throws Exception {
        assertTrue(Files.isRegularFile(MODEL), MODEL + " is missing (the bundled model; run from the project directory)");
        // Logs and broker data of earlier runs.
        if (Files.isDirectory(WORK_DIR)) {
            try (var paths = Files.walk(WORK_DIR)) {
                for (Path p : paths.sorted(Comparator.reverseOrder()).toList()) Files.delete(p);
            }
        }
        Files.createDirectories(WORK_DIR);
        cluster = KafkaTestResource.startCluster();
        // The model's tokenizer, to check that a text is what its token ids say (kept open: it reads the mapping).
        modelFile = GgufFile.open(MODEL);
        tokenizer = Tokenizer.of(Vocabulary.fromGguf(modelFile));
    }

    @AfterAll
    static void stopBroker() throws Exception {
        if (cluster != null) cluster.close();
        if (modelFile != null) modelFile.close();
    }

    enum Stop {
        /** SIGKILL of the service: a crash; offsets of unfinished prompts were never committed. */
        KILL,
        /** SIGTERM of the service with no grace: the running generations are cancelled and left uncommitted. */
        TERM,
        /** kill -9 of an external broker while the service runs on; the test starts it again. */
        BROKER,
        /** kill -9 of the service's own embedded broker; the service starts it again. */
        EMBEDDED
    }

    /** What a scenario does to the broker. */
    interface BrokerControl {
        void kill() throws Exception;

        void start() throws Exception;
    }

    /**
     * The restarted process's logits are perturbed (a test-only hook), as if it ran on other hardware: it still
     * continues exactly after what the killed one published.
     */
    @Test
    void aCrashInTheMiddleOfGenerationsIsResumedExactlyByARestartWithOtherLogits() throws Exception {
        runScenario("kill", Stop.KILL, cluster.bootstrapServers(), List.of(), null);
    }

    @Test
    void aGracefulStopWithTooShortAGraceLeavesNoCancelledEventsAndTheRestartCompletesTheRequests() throws Exception {
        runScenario("term", Stop.TERM, cluster.bootstrapServers(), List.of(), null);
    }

    /**
     * An external broker (a child JVM whose data directory survives, since the in-JVM test kit cannot restart a
     * broker on the same port) killed with SIGKILL: readiness goes down, the service reconnects once it is back and
     * the prompts in flight finish; then, with the broker killed again, a SIGTERM still ends the service quickly.
     */
    @Test
    void aKilledExternalBrokerIsReconnectedAndShutdownWithoutItIsQuick() throws Exception {
        Path dataDir = WORK_DIR.resolve("broker-" + UUID.randomUUID());
        int port = ServiceProcess.freePort();
        int controllerPort = ServiceProcess.freePort();
        EmbeddedKafkaBroker[] broker = {EmbeddedKafkaBroker.start(port, controllerPort, dataDir, "256m", WAIT)};
        try {
            runScenario("broker", Stop.BROKER, broker[0].bootstrapServers(), List.of(), new BrokerControl() {
                @Override
                public void kill() throws Exception {
                    killForcibly(ProcessHandle.of(broker[0].pid()).orElseThrow());
                }

                @Override
                public void start() {
                    broker[0] = EmbeddedKafkaBroker.start(port, controllerPort, dataDir, "256m", WAIT);
                }
            });
        } finally {
            broker[0].close();
        }
    }

    /** The service's own broker killed with SIGKILL: the service starts it again and goes on. */
    @Test
    void aKilledEmbeddedBrokerIsStartedAgainByTheService() throws Exception {
        int port = ServiceProcess.freePort();
        List<String> embedded = List.of("-Dmoeflow.kafka.port=" + port,
                "-Dmoeflow.kafka.controller-port=" + ServiceProcess.freePort(),
                "-Dmoeflow.kafka.data-dir=" + WORK_DIR.resolve("embedded-" + UUID.randomUUID()),
                "-Dmoeflow.kafka.heap=256m");
        runScenario("embedded", Stop.EMBEDDED, "localhost:" + port, embedded, null);
    }

    private static void killForcibly(ProcessHandle process) throws Exception {
        process.destroyForcibly();
        process.onExit().get(WAIT.toSeconds(), TimeUnit.SECONDS);
    }

    private void runScenario(String name, Stop stop, String bootstrap, List<String> extraArgs, BrokerControl externalBroker)
            throws Exception {
        String scenario = name + "-" + UUID.randomUUID().toString().substring(0, 8);
        String prompts = "it." + scenario + ".prompts";
        String tokens = "it." + scenario + ".tokens";
        List<String> serviceArgs = new ArrayList<>(List.of(
                "-Dmoeflow.kafka.topics.prompts=" + prompts,
                "-Dmoeflow.kafka.topics.tokens=" + tokens,
                "-Dmoeflow.kafka.topics.dlq=it." + scenario + ".dlq",
                // The same group before and after the restart: the restarted service resumes from its commits.
                "-Dmoeflow.kafka.group-id=it-" + scenario,
                "-Dmoeflow.model.path=" + MODEL,
                // One compute thread leaves a core to the broker and the test and widens the window to stop in.
                "-Dmoeflow.engine.threads=1",
                // After SIGKILL the dead member holds its partitions until its session expires (default 45 s).
                "-Dmp.messaging.incoming.prompts.session.timeout.ms=6000",
                "-Dmp.messaging.incoming.prompts.heartbeat.interval.ms=1000"));
        if (stop != Stop.EMBEDDED) serviceArgs.add("-Dmoeflow.kafka.bootstrap-servers=" + bootstrap);
        // No grace: a SIGTERM cuts the running generations off, which is the case to prove. The broker scenario
        // keeps the production grace: its SIGTERM must not wait for prompts that cannot finish without Kafka.
        if (stop != Stop.BROKER) serviceArgs.add("-Dmoeflow.shutdown.grace=0s");
        serviceArgs.addAll(extraArgs);

        Map<String, String> bodyById = new LinkedHashMap<>();
        for (int i = 0; i < BODIES.size(); i++) bodyById.put(scenario + "-" + i, BODIES.get(i));

        List<ServiceProcess> services = new ArrayList<>();
        try {
            ServiceProcess first = ServiceProcess.start(scenario + "-1", serviceArgs);
            services.add(first);
            first.awaitReady();
            // The uninterrupted generations, from a process whose logits are not perturbed (sent together: the
            // engine batches them, as it batches the Kafka prompts).
            Map<String, CompletableFuture<Completion>> pending = new LinkedHashMap<>();
            bodyById.forEach((id, body) -> pending.put(id, first.complete(body)));
            Map<String, Completion> references = new LinkedHashMap<>();
            for (var e : pending.entrySet()) references.put(e.getKey(), e.getValue().get(WAIT.toSeconds(), TimeUnit.SECONDS));
            // Started once the service has created the topic (reading a missing one would create it).
            try (TokenCollector collector = new TokenCollector(bootstrap, tokens);
                 KafkaProducer<String, String> producer = KafkaClient.stringProducer(bootstrap)) {
                for (var e : bodyById.entrySet()) {
                    ObjectNode record = (ObjectNode) RequestParser.JSON.readTree(e.getValue());
                    record.put("id", e.getKey());
                    // One partition: a fresh consumer takes the records of different partitions up to a second apart,
                    // enough for the first prompts to finish before the last starts; from one partition they come in
                    // one poll and are generated side by side, so the stop finds them all mid-generation.
                    producer.send(new ProducerRecord<>(prompts, 0, e.getKey(), record.toString())).get();
                }

                // Stop once every prompt is generating: each has a few events.
                collector.await(events -> bodyById.keySet().stream()
                        .allMatch(id -> events.stream().filter(ev -> ev.event().requestId().equals(id)).count() >= EVENTS_BEFORE_STOP),
                        "every prompt to have " + EVENTS_BEFORE_STOP + " events before the stop", first);
                Set<String> interrupted;
                ServiceProcess serving;
                List<Delivered> beforeRestart = List.of();
                if (stop == Stop.BROKER || stop == Stop.EMBEDDED) {
                    interrupted = unfinished(bodyById.keySet(), collector.snapshot());
                    long linesBefore = first.logLines();
                    if (stop == Stop.BROKER) externalBroker.kill();
                    else killForcibly(first.embeddedBroker());
                    first.awaitNotReady();
                    first.assertLive();
                    if (stop == Stop.BROKER) externalBroker.start();
                    first.awaitReady();
                    // The clients' warnings about the lost broker are rate-limited: a few dozen lines, not thousands.
                    long written = first.logLines() - linesBefore;
                    assertTrue(written < 300, written + " log lines while the broker was lost\n" + first.logTail());
                    if (stop == Stop.EMBEDDED) {
                        JsonNode ready = RequestParser.JSON.readTree(first.health("/q/health/ready"));
                        JsonNode check = null;
                        for (JsonNode c : ready.path("checks")) if (c.path("name").asText().equals("kafka-broker")) check = c;
                        assertNotNull(check, "no kafka-broker check: " + ready);
                        assertEquals(1, check.path("data").path("embedded_restarts").asInt(), ready.toString());
                        assertEquals("up", check.path("data").path("embedded").asText(), ready.toString());
                    }
                    serving = first;
                } else {
                    if (stop == Stop.KILL) {
                        first.kill();
                    } else {
                        first.terminate();
                    }
                    // Everything the stopped process wrote, not just what was read by the time it exited.
                    beforeRestart = collector.awaitCaughtUp(first);
                    // Nothing it wrote may announce an end it did not reach: the prompt is generated on.
                    for (Delivered d : beforeRestart) {
                        TokenEvent e = d.event();
                        assertFalse(e.finish() == FinishReason.CANCELLED || e.finish() == FinishReason.ERROR,
                                () -> "the stopped service wrote a " + e.finish().wire() + " event, contradicting the "
                                + "generation after the restart: " + e + "\n" + first.logTail());
                    }
                    interrupted = unfinished(bodyById.keySet(), beforeRestart);
                    List<String> restartArgs = new ArrayList<>(serviceArgs);
                    if (stop == Stop.KILL) restartArgs.add("-Dmoeflow.testing.logit-noise=" + LOGIT_NOISE);
                    serving = ServiceProcess.start(scenario + "-2", restartArgs);
                    services.add(serving);
                    serving.awaitReady();
                }
                assertFalse(interrupted.isEmpty(), "every prompt finished before the " + stop + ": it was not in the "
                        + "middle of a generation");

                collector.await(events -> unfinished(bodyById.keySet(), events).isEmpty(),
                        "every prompt to have a last event after the " + stop, serving);
                List<Delivered> all = collector.snapshot();
                int diverged = 0;
                for (String id : bodyById.keySet()) {
                    List<Delivered> events = all.stream().filter(d -> d.event().requestId().equals(id)).toList();
                    List<Delivered> before = beforeRestart.stream().filter(d -> d.event().requestId().equals(id)).toList();
                    String text = assertOneGeneration(id, events, before);
                    if (stop == Stop.KILL) {
                        // The perturbed process differs from the reference, yet the text is one generation.
                        if (interrupted.contains(id) && !text.equals(references.get(id).text())) diverged++;
                    } else {
                        assertSameAsUninterrupted(id, events, references.get(id));
                    }
                }
                if (stop == Stop.KILL) {
                    assertTrue(diverged > 0, "the perturbed restart generated what an unperturbed one would: the hook had no effect");
                }
                if (stop == Stop.BROKER) assertQuickShutdownWithoutBroker(serving, producer, prompts, collector, externalBroker, scenario);
                System.out.printf("RestartIT %s: %d of %d prompts unfinished at the %s; %d events read, %d after "
                        + "de-duplication%s%n", name, interrupted.size(), bodyById.size(), stop, all.size(),
                        all.stream().map(d -> d.event().requestId() + "/" + d.event().index()).distinct().count(),
                        stop == Stop.KILL ? "; " + diverged + " continued differently from the unperturbed reference" : "");
            }
        } finally {
            for (ServiceProcess service : services) service.close();
        }
    }

    /**
     * Prompts generating, the broker killed, then SIGTERM with the production grace: the service does not wait for
     * prompts that cannot finish without Kafka, nor hang on closing its clients.
     */
    private static void assertQuickShutdownWithoutBroker(ServiceProcess service, KafkaProducer<String, String> producer,
                                                         String prompts, TokenCollector collector, BrokerControl broker,
                                                         String scenario) throws Exception {
        List<String> ids = List.of(scenario + "-late-0", scenario + "-late-1");
        for (String id : ids) {
            producer.send(new ProducerRecord<>(prompts, 0, id,
                    "{\"id\":\"" + id + "\",\"prompt\":\"Once upon a time\",\"max_tokens\":300,\"temperature\":0.8}")).get();
        }
        collector.await(events -> ids.stream().allMatch(id -> events.stream().anyMatch(d -> d.event().requestId().equals(id))),
                "the late prompts to generate", service);
        broker.kill();
        service.awaitNotReady();
        long start = System.nanoTime();
        service.terminate();
        Duration took = Duration.ofNanos(System.nanoTime() - start);
        System.out.printf("RestartIT broker: SIGTERM with the broker gone took %d ms%n", took.toMillis());
        assertTrue(took.compareTo(SHUTDOWN_BOUND) < 0, "SIGTERM with the broker gone took " + took + "\n" + service.logTail());
        broker.start(); // for the cleanup's sake
    }

    /** The requests among {@code ids} without a stop or length event in {@code events}. */
    private static Set<String> unfinished(Set<String> ids, List<Delivered> events) {
        Set<String> finished = events.stream().map(Delivered::event)
                .filter(e -> e.finish() == FinishReason.STOP || e.finish() == FinishReason.LENGTH)
                .map(TokenEvent::requestId).collect(Collectors.toSet());
        return ids.stream().filter(id -> !finished.contains(id)).collect(Collectors.toCollection(TreeSet::new));
    }

    /**
     * The events of one request as a de-duplicating consumer sees them: indexes 0..N exactly once, one last event
     * (stop or length) at N, and one coherent generation. No index was written twice (the restarted process
     * continued after the published events, it did not generate them again), so nothing had to be de-duplicated:
     * the text is what the stopped process published followed by what the restarted one did. The last event's
     * full_text is that text; the text is what the model's tokenizer makes of the token ids; usage counts them.
     * Returns the text.
     */
    private static String assertOneGeneration(String id, List<Delivered> events, List<Delivered> beforeRestart) {
        TreeMap<Integer, TokenEvent> byIndex = new TreeMap<>();
        for (Delivered d : events) {
            TokenEvent e = d.event();
            assertFalse(e.finish() == FinishReason.CANCELLED || e.finish() == FinishReason.ERROR,
                    id + ": event with finish_reason " + e.finish() + " for a request that was to be completed: " + e);
            TokenEvent earlier = byIndex.putIfAbsent(e.index(), e);
            assertNull(earlier, () -> id + " index " + e.index() + " was written twice: " + earlier + " and " + e);
        }
        assertFalse(byIndex.isEmpty(), id + ": no events");
        int last = byIndex.lastKey();
        assertEquals(last + 1, byIndex.size(), id + ": indexes are not 0.." + last + " without gaps: " + byIndex.keySet());
        List<TokenEvent> finals = byIndex.values().stream().filter(TokenEvent::last).toList();
        assertEquals(1, finals.size(), id + ": expected exactly one last event, got " + finals);
        assertEquals(last, finals.get(0).index(), id + ": the last event is not the highest index");

        String text = byIndex.values().stream().map(TokenEvent::text).collect(Collectors.joining());
        int published = beforeRestart.size();
        String stopped = beforeRestart.stream().map(d -> d.event().text()).collect(Collectors.joining());
        String restarted = events.subList(published, events.size()).stream().map(d -> d.event().text()).collect(Collectors.joining());
        for (int i = 0; i < published; i++) assertEquals(i, beforeRestart.get(i).event().index(), id + ": published in order");
        assertEquals(stopped + restarted, text, id + ": the text is the stopped process's events then the restarted one's");

        var stream = tokenizer.newStream();
        StringBuilder decoded = new StringBuilder();
        for (TokenEvent e : byIndex.values()) if (e.token() >= 0) decoded.append(stream.push(e.token()));
        decoded.append(stream.flush());
        assertEquals(decoded.toString(), text, id + ": the text is not what the tokens say (not one coherent generation)");
        JsonNode lastJson = events.stream().filter(d -> d.event().last()).findFirst().orElseThrow().json();
        assertEquals(text, lastJson.path("full_text").asText(null), id + ": full_text of the last event");
        assertNotNull(finals.get(0).usage(), id + ": last event without usage");
        assertEquals(byIndex.values().stream().filter(e -> e.token() >= 0).count(), finals.get(0).usage().completionTokens(),
                id + ": completion_tokens");
        return text;
    }

    /** With the same numerics, the resumed generation is the uninterrupted one: the sampler went on as if uninterrupted. */
    private static void assertSameAsUninterrupted(String id, List<Delivered> events, Completion reference) {
        String text = events.stream().map(d -> d.event().text()).collect(Collectors.joining());
        TokenEvent last = events.getLast().event();
        assertEquals(reference.text(), text, id + ": the text differs from an uninterrupted generation");
        assertEquals(reference.finishReason(), last.finish().wire(), id + ": finish_reason differs from an uninterrupted generation");
        assertEquals(reference.completionTokens(), last.usage().completionTokens(), id + ": completion_tokens differs");
    }

    record Completion(String text, String finishReason, int completionTokens) {}

    /** One token event as read from the topic: parsed, and its JSON (for full_text). */
    record Delivered(TokenEvent event, JsonNode json) {}

    /** The packaged service (target/quarkus-app/quarkus-run.jar) in a child JVM, its output in a log file. */
    static final class ServiceProcess implements AutoCloseable {
        private final Process process;
        private final int port;
        private final Path log;

        private ServiceProcess(Process process, int port, Path log) {
            this.process = process;
            this.port = port;
            this.log = log;
        }

        static ServiceProcess start(String name, List<String> args) throws IOException {
            Path jar = Path.of("target/quarkus-app/quarkus-run.jar").toAbsolutePath();
            assertTrue(Files.isRegularFile(jar), jar + " is missing: run `package` first (failsafe runs after it)");
            int port = freePort();
            Path java = Path.of(System.getProperty("java.home"), "bin", "java");
            List<String> command = new ArrayList<>(List.of(java.toString(),
                    "--add-modules=jdk.incubator.vector", "--enable-native-access=ALL-UNNAMED", "-Xmx512m",
                    "-Dquarkus.http.port=" + port));
            command.addAll(args);
            command.addAll(List.of("-jar", jar.toString()));
            Path log = WORK_DIR.resolve(name + ".log");
            Process process = new ProcessBuilder(command).redirectErrorStream(true)
                    .redirectOutput(log.toFile()).start();
            return new ServiceProcess(process, port, log);
        }

        void awaitReady() throws InterruptedException {
            long deadline = System.nanoTime() + WAIT.toNanos();
            String last = "";
            while (System.nanoTime() < deadline) {
                if (!process.isAlive()) throw new AssertionError("the service exited with code " + process.exitValue() + "\n" + logTail());
                try {
                    HttpResponse<String> r = HTTP.send(HttpRequest.newBuilder(uri("/q/health/ready"))
                            .timeout(Duration.ofSeconds(5)).build(), HttpResponse.BodyHandlers.ofString());
                    if (r.statusCode() == 200) return;
                    last = r.body();
                } catch (IOException notListening) {
                    last = notListening.toString();
                }
                Thread.sleep(200);
            }
            throw new AssertionError("the service was not ready within " + WAIT + ": " + last + "\n" + logTail());
        }

        /** Waits until readiness is down (a lost broker is noticed). */
        void awaitNotReady() throws InterruptedException {
            long deadline = System.nanoTime() + WAIT.toNanos();
            while (System.nanoTime() < deadline) {
                if (!process.isAlive()) throw new AssertionError("the service exited with code " + process.exitValue() + "\n" + logTail());
                try {
                    if (HTTP.send(HttpRequest.newBuilder(uri("/q/health/ready")).timeout(Duration.ofSeconds(5)).build(),
                            HttpResponse.BodyHandlers.ofString()).statusCode() == 503) return;
                } catch (IOException e) {
                    throw new AssertionError("the service stopped answering HTTP", e);
                }
                Thread.sleep(200);
            }
            throw new AssertionError("readiness stayed up for " + WAIT + " after the broker was lost\n" + logTail());
        }

        /** Liveness is up: a lost broker that can be recovered is no reason to restart the service. */
        void assertLive() throws Exception {
            HttpResponse<String> r = HTTP.send(HttpRequest.newBuilder(uri("/q/health/live")).timeout(Duration.ofSeconds(5)).build(),
                    HttpResponse.BodyHandlers.ofString());
            assertEquals(200, r.statusCode(), "liveness: " + r.body());
        }

        String health(String path) throws Exception {
            return HTTP.send(HttpRequest.newBuilder(uri(path)).timeout(Duration.ofSeconds(5)).build(),
                    HttpResponse.BodyHandlers.ofString()).body();
        }

        /** The embedded broker's JVM, a child of the service. */
        ProcessHandle embeddedBroker() {
            return process.descendants()
                    .filter(p -> p.info().commandLine().orElse("").contains(EmbeddedKafkaMain.class.getName()))
                    .findFirst().orElseThrow(() -> new AssertionError("the service has no embedded broker child"));
        }

        long logLines() throws IOException {
            try (var lines = Files.lines(log, StandardCharsets.UTF_8)) {
                return lines.count();
            }
        }

        /** POST /v1/completions: the uninterrupted generation to compare with. */
        CompletableFuture<Completion> complete(String body) {
            HttpRequest request = HttpRequest.newBuilder(uri("/v1/completions"))
                    .timeout(WAIT).header("Content-Type", "application/json")
                    .POST(HttpRequest.BodyPublishers.ofString(body)).build();
            return HTTP.sendAsync(request, HttpResponse.BodyHandlers.ofString()).thenApply(r -> {
                assertEquals(200, r.statusCode(), "POST /v1/completions " + body + ": " + r.body());
                JsonNode json;
                try {
                    json = RequestParser.JSON.readTree(r.body());
                } catch (IOException e) {
                    throw new AssertionError("POST /v1/completions answered no JSON: " + r.body(), e);
                }
                JsonNode choice = json.path("choices").path(0);
                return new Completion(choice.path("text").asText(), choice.path("finish_reason").asText(),
                        json.path("usage").path("completion_tokens").asInt(-1));
            });
        }

        /** SIGKILL: a crash, nothing is committed or flushed on the way out. */
        void kill() throws InterruptedException {
            process.destroyForcibly();
            assertTrue(process.waitFor(WAIT.toSeconds(), TimeUnit.SECONDS), "the service did not die on SIGKILL");
        }

        /** SIGTERM: Quarkus' graceful shutdown (GracefulShutdown, then the connectors commit and close). */
        void terminate() throws InterruptedException {
            process.destroy();
            assertTrue(process.waitFor(WAIT.toSeconds(), TimeUnit.SECONDS), () -> "the service did not stop on SIGTERM\n" + logTail());
        }

        String logTail() {
            try {
                List<String> lines = Files.readAllLines(log, StandardCharsets.UTF_8);
                return "--- last lines of " + log + " ---\n"
                        + String.join("\n", lines.subList(Math.max(0, lines.size() - 40), lines.size()));
            } catch (IOException e) {
                return "(cannot read " + log + ": " + e + ")";
            }
        }

        private URI uri(String path) {
            return URI.create("http://localhost:" + port + path);
        }

        @Override
        public void close() throws InterruptedException {
            // Children first (the service starts none with external Kafka, but never leave strays), then SIGKILL:
            // what a kill leaves behind (uncommitted offsets of topics no later test reads) does not matter.
            process.descendants().forEach(ProcessHandle::destroyForcibly);
            process.destroyForcibly().waitFor(WAIT.toSeconds(), TimeUnit.SECONDS);
        }

        static int freePort() throws IOException {
            try (ServerSocket socket = new ServerSocket(0)) {
                return socket.getLocalPort();
            }
        }
    }

    /** Reads every event of the tokens topic from the beginning on a background thread, as any client would. */
    static final class TokenCollector implements AutoCloseable {
        private final String bootstrap;
        private final String topic;
        private final List<Delivered> events = new ArrayList<>();
        private final Thread thread;
        private volatile boolean running = true;
        private volatile RuntimeException failure;

        TokenCollector(String bootstrap, String topic) {
            this.bootstrap = bootstrap;
            this.topic = topic;
            Properties p = new Properties();
            p.put(ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
            p.put(ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, false);
            p.put(ConsumerConfig.KEY_DESERIALIZER_CLASS_CONFIG, StringDeserializer.class.getName());
            p.put(ConsumerConfig.VALUE_DESERIALIZER_CLASS_CONFIG, StringDeserializer.class.getName());
            KafkaConsumer<String, String> consumer = new KafkaConsumer<>(p);
            thread = Thread.ofPlatform().name("tokens-" + topic).start(() -> {
                try (consumer) {
                    List<TopicPartition> partitions = consumer.partitionsFor(topic, WAIT).stream()
                            .map(i -> new TopicPartition(topic, i.partition())).toList();
                    consumer.assign(partitions);
                    consumer.seekToBeginning(partitions);
                    while (running) {
                        for (ConsumerRecord<String, String> r : consumer.poll(Duration.ofMillis(50))) {
                            TokenEvent e = TokenEventJson.parse(r.value());
                            if (!e.requestId().equals(r.key())) {
                                throw new IllegalStateException("record key " + r.key() + " is not the request id of " + r.value());
                            }
                            Delivered d;
                            try {
                                d = new Delivered(e, RequestParser.JSON.readTree(r.value()));
                            } catch (IOException notJson) {
                                throw new IllegalStateException(notJson);
                            }
                            synchronized (events) {
                                events.add(d);
                                events.notifyAll();
                            }
                        }
                    }
                } catch (RuntimeException e) {
                    failure = e;
                    synchronized (events) {
                        events.notifyAll();
                    }
                }
            });
        }

        /** Waits until every record the topic holds now has been read; returns the events read. */
        List<Delivered> awaitCaughtUp(ServiceProcess service) throws Exception {
            long written;
            try (Admin admin = Admin.create(Map.of(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap))) {
                var partitions = admin.describeTopics(List.of(topic)).allTopicNames().get(WAIT.toSeconds(), TimeUnit.SECONDS)
                        .get(topic).partitions().stream()
                        .collect(Collectors.toMap(p -> new TopicPartition(topic, p.partition()), p -> OffsetSpec.latest()));
                // The topic is new and written without transactions: its end offsets add up to its record count.
                written = admin.listOffsets(partitions).all().get(WAIT.toSeconds(), TimeUnit.SECONDS).values().stream()
                        .mapToLong(ListOffsetsResult.ListOffsetsResultInfo::offset).sum();
            }
            await(events -> events.size() >= written, written + " events (all the topic holds)", service);
            return snapshot();
        }

        List<Delivered> snapshot() {
            synchronized (events) {
                return List.copyOf(events);
            }
        }

        void await(Predicate<List<Delivered>> condition, String what, ServiceProcess service) throws InterruptedException {
            long deadline = System.nanoTime() + WAIT.toNanos();
            synchronized (events) {
                while (!condition.test(events)) {
                    if (failure != null) throw new AssertionError("reading the tokens topic failed", failure);
                    long left = deadline - System.nanoTime();
                    if (left <= 0) {
                        Map<String, Long> counts = events.stream().collect(Collectors.groupingBy(d -> d.event().requestId(), TreeMap::new, Collectors.counting()));
                        throw new AssertionError("waited " + WAIT + " for " + what + "; events per request: " + counts + "\n" + service.logTail());
                    }
                    events.wait(Math.max(1, Math.min(TimeUnit.NANOSECONDS.toMillis(left), 200)));
                }
            }
        }

        @Override
        public void close() throws InterruptedException {
            running = false;
            thread.join(WAIT.toMillis());
        }
    }
}
