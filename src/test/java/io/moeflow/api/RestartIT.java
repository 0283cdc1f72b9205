package io.moeflow.api;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.moeflow.api.kafka.EmbeddedKafkaBroker;
import io.moeflow.api.kafka.TokenEventJson;
import io.moeflow.api.testing.KafkaTestResource;
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
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.serialization.StringDeserializer;
import org.apache.kafka.common.serialization.StringSerializer;
import org.apache.kafka.common.test.KafkaClusterTestKit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * After `package` (failsafe): the packaged service runs as a child JVM against a real broker and is disrupted in the
 * middle of generating several Kafka prompts: SIGKILL (a crash), SIGTERM (a graceful stop whose grace period is too
 * short for them to finish), each followed by a restart in the same consumer group, and a restart of the broker.
 * Every request must then be completed, and a consumer that de-duplicates token events on (id, index) must see each
 * index exactly once, the same text as an uninterrupted generation, and no "cancelled" or "error" event.
 */
class RestartIT {
    /** Bound of each wait; a healthy run needs a fraction of it. */
    private static final Duration WAIT = Duration.ofSeconds(60);
    /** Events every prompt must have produced before the service is stopped (the stop is mid-generation). */
    private static final int EVENTS_BEFORE_STOP = 3;
    private static final Path WORK_DIR = Path.of("target", "restart-it").toAbsolutePath();
    private static final Path MODEL = Path.of("models/stories260K/stories260K.gguf").toAbsolutePath();
    private static final HttpClient HTTP = HttpClient.newHttpClient();

    /**
     * Several sampled prompts (fixed seeds, so a redelivery and the HTTP reference repeat them) and one greedy one.
     * max_tokens exceeds stories260K's context of 128, so each runs until end of text or the context is full.
     */
    private static final List<String> BODIES = List.of(
            "{\"prompt\":\"Once upon a time\",\"max_tokens\":300,\"temperature\":0.8,\"seed\":1}",
            "{\"prompt\":\"Once upon a time\",\"max_tokens\":300,\"temperature\":0.8,\"seed\":2}",
            "{\"prompt\":\"The little dog\",\"max_tokens\":400,\"temperature\":1.0,\"top_k\":40,\"seed\":3}",
            "{\"prompt\":\"Lily went to the park\",\"max_tokens\":200,\"temperature\":0.9,\"top_p\":0.9,\"seed\":4}",
            "{\"prompt\":\"Tom had a red ball\",\"max_tokens\":300,\"temperature\":0}");

    private static KafkaClusterTestKit cluster;

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
    }

    @AfterAll
    static void stopBroker() throws Exception {
        if (cluster != null) cluster.close();
    }

    enum Stop {
        /** SIGKILL of the service: a crash; offsets of unfinished prompts were never committed. */
        KILL,
        /** SIGTERM of the service with no grace: the running generations are cancelled and left uncommitted. */
        TERM,
        /** The broker stops and starts again while the service runs on. */
        BROKER
    }

    /** Stops and starts the broker again. */
    interface BrokerRestart {
        void run() throws Exception;
    }

    @Test
    void aCrashInTheMiddleOfGenerationsIsRepairedByRedelivery() throws Exception {
        runScenario("kill", Stop.KILL, cluster.bootstrapServers(), null);
    }

    @Test
    void aGracefulStopWithTooShortAGraceLeavesNoCancelledEventsAndTheRestartCompletesTheRequests() throws Exception {
        runScenario("term", Stop.TERM, cluster.bootstrapServers(), null);
    }

    /**
     * The service's own embedded broker (a child JVM whose data directory survives a restart), since the in-JVM test
     * kit cannot restart a broker on the same port.
     */
    @Test
    void aBrokerRestartInTheMiddleOfGenerationsLosesNoEvent() throws Exception {
        Path dataDir = WORK_DIR.resolve("broker-" + UUID.randomUUID());
        int port = ServiceProcess.freePort();
        int controllerPort = ServiceProcess.freePort();
        EmbeddedKafkaBroker[] broker = {EmbeddedKafkaBroker.start(port, controllerPort, dataDir, "256m", WAIT)};
        try {
            runScenario("broker", Stop.BROKER, broker[0].bootstrapServers(), () -> {
                broker[0].close();
                broker[0] = EmbeddedKafkaBroker.start(port, controllerPort, dataDir, "256m", WAIT);
            });
        } finally {
            broker[0].close();
        }
    }

    private void runScenario(String name, Stop stop, String bootstrap, BrokerRestart brokerRestart) throws Exception {
        String scenario = name + "-" + UUID.randomUUID().toString().substring(0, 8);
        String prompts = "it." + scenario + ".prompts";
        String tokens = "it." + scenario + ".tokens";
        List<String> serviceArgs = List.of(
                "-Dmoeflow.kafka.bootstrap-servers=" + bootstrap,
                "-Dmoeflow.kafka.topics.prompts=" + prompts,
                "-Dmoeflow.kafka.topics.tokens=" + tokens,
                "-Dmoeflow.kafka.topics.dlq=it." + scenario + ".dlq",
                // The same group before and after the restart: the restarted service resumes from its commits.
                "-Dmoeflow.kafka.group-id=it-" + scenario,
                "-Dmoeflow.model.path=" + MODEL,
                // One compute thread leaves a core to the broker and the test and widens the window to stop in.
                "-Dmoeflow.engine.threads=1",
                // No grace: a SIGTERM cuts the running generations off, which is the case to prove.
                "-Dmoeflow.shutdown.grace=0s",
                // After SIGKILL the dead member holds its partitions until its session expires (default 45 s).
                "-Dmp.messaging.incoming.prompts.session.timeout.ms=6000",
                "-Dmp.messaging.incoming.prompts.heartbeat.interval.ms=1000");

        Map<String, String> bodyById = new LinkedHashMap<>();
        for (int i = 0; i < BODIES.size(); i++) bodyById.put(scenario + "-" + i, BODIES.get(i));

        List<ServiceProcess> services = new ArrayList<>();
        try {
            ServiceProcess first = ServiceProcess.start(scenario + "-1", serviceArgs);
            services.add(first);
            first.awaitReady();
            // Started once the service has created the topic (reading a missing one would create it).
            try (TokenCollector collector = new TokenCollector(bootstrap, tokens);
                 KafkaProducer<String, String> producer = producer(bootstrap)) {
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
                        .allMatch(id -> events.stream().filter(ev -> ev.requestId().equals(id)).count() >= EVENTS_BEFORE_STOP),
                        "every prompt to have " + EVENTS_BEFORE_STOP + " events before the stop", first);
                Set<String> interrupted;
                ServiceProcess serving;
                if (stop == Stop.BROKER) {
                    interrupted = unfinished(bodyById.keySet(), collector.snapshot());
                    brokerRestart.run();
                    serving = first;
                } else {
                    if (stop == Stop.KILL) {
                        first.kill();
                    } else {
                        first.terminate();
                    }
                    // Everything the stopped process wrote, not just what was read by the time it exited.
                    List<TokenEvent> beforeRestart = collector.awaitCaughtUp(first);
                    // Nothing it wrote may announce an end it did not reach: the prompt is generated again.
                    for (TokenEvent e : beforeRestart) {
                        assertFalse(e.finish() == FinishReason.CANCELLED || e.finish() == FinishReason.ERROR,
                                () -> "the stopped service wrote a " + e.finish().wire() + " event, contradicting the "
                                + "regeneration after the restart: " + e + "\n" + first.logTail());
                    }
                    interrupted = unfinished(bodyById.keySet(), beforeRestart);
                    serving = ServiceProcess.start(scenario + "-2", serviceArgs);
                    services.add(serving);
                    serving.awaitReady();
                }
                assertFalse(interrupted.isEmpty(), "every prompt finished before the " + stop + ": it was not in the "
                        + "middle of a generation");

                collector.await(events -> unfinished(bodyById.keySet(), events).isEmpty(),
                        "every prompt to have a last event after the " + stop, serving);
                List<TokenEvent> all = collector.snapshot();
                // Sent together: the engine batches them, as it batched the Kafka prompts.
                Map<String, CompletableFuture<Completion>> references = new LinkedHashMap<>();
                bodyById.forEach((id, body) -> references.put(id, serving.complete(body)));
                for (String id : bodyById.keySet()) {
                    List<TokenEvent> events = all.stream().filter(ev -> ev.requestId().equals(id)).toList();
                    assertCompletedOnce(id, events, references.get(id).get(WAIT.toSeconds(), TimeUnit.SECONDS),
                            stop != Stop.BROKER && interrupted.contains(id));
                }
                System.out.printf("RestartIT %s: %d of %d prompts unfinished at the %s; %d events read, %d after "
                        + "de-duplication%n", name, interrupted.size(), bodyById.size(), stop, all.size(),
                        all.stream().map(ev -> ev.requestId() + "/" + ev.index()).distinct().count());
            }
        } finally {
            for (ServiceProcess service : services) service.close();
        }
    }

    /** The requests among {@code ids} without a stop or length event in {@code events}. */
    private static Set<String> unfinished(Set<String> ids, List<TokenEvent> events) {
        Set<String> finished = events.stream()
                .filter(e -> e.finish() == FinishReason.STOP || e.finish() == FinishReason.LENGTH)
                .map(TokenEvent::requestId).collect(Collectors.toSet());
        return ids.stream().filter(id -> !finished.contains(id)).collect(Collectors.toCollection(TreeSet::new));
    }

    /**
     * The events of one request as a de-duplicating consumer sees them: indexes 0..N exactly once, one last event
     * (stop or length) at N, duplicates identical, and the text of an uninterrupted generation.
     */
    private static void assertCompletedOnce(String id, List<TokenEvent> events, Completion reference, boolean interrupted) {
        TreeMap<Integer, TokenEvent> byIndex = new TreeMap<>();
        int duplicates = 0;
        for (TokenEvent e : events) {
            assertFalse(e.finish() == FinishReason.CANCELLED || e.finish() == FinishReason.ERROR,
                    id + ": event with finish_reason " + e.finish() + " for a request that was to be completed: " + e);
            TokenEvent earlier = byIndex.putIfAbsent(e.index(), e);
            if (earlier != null) {
                duplicates++;
                // A redelivered prompt is generated again from the start with the same seed: identical events.
                assertEquals(earlier.token(), e.token(), id + " index " + e.index() + ": token differs between deliveries");
                assertEquals(earlier.text(), e.text(), id + " index " + e.index() + ": text differs between deliveries");
                assertEquals(earlier.finish(), e.finish(), id + " index " + e.index() + ": finish_reason differs between deliveries");
            }
        }
        assertFalse(byIndex.isEmpty(), id + ": no events");
        int last = byIndex.lastKey();
        assertEquals(last + 1, byIndex.size(), id + ": indexes are not 0.." + last + " without gaps: " + byIndex.keySet());
        List<TokenEvent> finals = byIndex.values().stream().filter(TokenEvent::last).toList();
        assertEquals(1, finals.size(), id + ": expected exactly one last event, got " + finals);
        assertEquals(last, finals.get(0).index(), id + ": the last event is not the highest index");
        if (interrupted) assertTrue(duplicates > 0, id + ": was interrupted but no index was delivered twice (not regenerated?)");

        String text = byIndex.values().stream().map(TokenEvent::text).collect(Collectors.joining());
        assertEquals(reference.text(), text, id + ": the de-duplicated text differs from an uninterrupted generation");
        assertEquals(reference.finishReason(), finals.get(0).finish().wire(), id + ": finish_reason differs from an uninterrupted generation");
        assertNotNull(finals.get(0).usage(), id + ": last event without usage");
        assertEquals(reference.completionTokens(), finals.get(0).usage().completionTokens(), id + ": completion_tokens differs");
    }

    private static KafkaProducer<String, String> producer(String bootstrap) {
        Properties p = new Properties();
        p.put(ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
        p.put(ProducerConfig.KEY_SERIALIZER_CLASS_CONFIG, StringSerializer.class.getName());
        p.put(ProducerConfig.VALUE_SERIALIZER_CLASS_CONFIG, StringSerializer.class.getName());
        return new KafkaProducer<>(p);
    }

    record Completion(String text, String finishReason, int completionTokens) {}

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

        private static int freePort() throws IOException {
            try (ServerSocket socket = new ServerSocket(0)) {
                return socket.getLocalPort();
            }
        }
    }

    /** Reads every event of the tokens topic from the beginning on a background thread, as any client would. */
    static final class TokenCollector implements AutoCloseable {
        private final String bootstrap;
        private final String topic;
        private final List<TokenEvent> events = new ArrayList<>();
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
                            synchronized (events) {
                                events.add(e);
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
        List<TokenEvent> awaitCaughtUp(ServiceProcess service) throws Exception {
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

        List<TokenEvent> snapshot() {
            synchronized (events) {
                return List.copyOf(events);
            }
        }

        void await(Predicate<List<TokenEvent>> condition, String what, ServiceProcess service) throws InterruptedException {
            long deadline = System.nanoTime() + WAIT.toNanos();
            synchronized (events) {
                while (!condition.test(events)) {
                    if (failure != null) throw new AssertionError("reading the tokens topic failed", failure);
                    long left = deadline - System.nanoTime();
                    if (left <= 0) {
                        Map<String, Long> counts = events.stream().collect(Collectors.groupingBy(TokenEvent::requestId, TreeMap::new, Collectors.counting()));
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
