package io.moeflow.deploy;

import static io.restassured.RestAssured.given;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.moeflow.api.GenerationService;
import io.moeflow.api.GracefulShutdown;
import io.moeflow.api.ModelRuntime;
import io.moeflow.api.MoeflowConfig;
import io.moeflow.api.kafka.TokenEventJson;
import io.moeflow.api.testing.ControllableEngine;
import io.moeflow.api.testing.KafkaClient;
import io.moeflow.api.testing.Ready;
import io.moeflow.api.testing.TestModelRuntime;
import io.moeflow.scheduler.TokenEvent;
import io.quarkus.test.junit.QuarkusTest;
import io.quarkus.test.junit.QuarkusTestProfile;
import io.quarkus.test.junit.TestProfile;
import io.restassured.http.ContentType;
import jakarta.inject.Inject;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.Set;
import java.util.UUID;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.function.BooleanSupplier;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AdminClientConfig;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.consumer.OffsetAndMetadata;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.clients.producer.RecordMetadata;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.serialization.StringDeserializer;
import org.apache.kafka.common.serialization.StringSerializer;
import org.eclipse.microprofile.config.inject.ConfigProperty;
import org.junit.jupiter.api.Test;

/**
 * Graceful shutdown against a real broker: prompts that finished before or during the grace period are committed,
 * the ones still generating when it ends are cancelled, left uncommitted, and a new consumer of the group gets them
 * again; none is lost and none gets a "cancelled" event that would contradict its regeneration.
 *
 * <p>The shutdown is the service's own ShutdownEvent observer method ({@link GracefulShutdown#drain}), called
 * directly: the test JVM's application keeps running, so the offsets are those its Kafka connector commits on its
 * (shortened) commit interval, the same commit that happens when it closes.
 */
@QuarkusTest
@TestProfile(GracefulShutdownTest.Profile.class)
class GracefulShutdownTest {
    /** Its own topic and group, and commits every 200 ms instead of 5 s. */
    public static class Profile implements QuarkusTestProfile {
        @Override
        public Map<String, String> getConfigOverrides() {
            return Map.of(
                    "moeflow.kafka.topics.prompts", "shutdown-test.prompts",
                    "moeflow.kafka.group-id", "shutdown-test",
                    "mp.messaging.incoming.prompts.auto.commit.interval.ms", "200");
        }
    }

    private static final Duration GRACE = Duration.ofSeconds(8);

    @ConfigProperty(name = "kafka.bootstrap.servers")
    String bootstrap;
    @Inject
    MoeflowConfig config;
    @Inject
    ModelRuntime runtime;
    @Inject
    GenerationService service;
    @Inject
    GracefulShutdown shutdown;

    /** A produced prompt and where it landed. */
    private record Produced(String id, TopicPartition partition, long offset) {}

    @Test
    void finishedPromptsAreCommittedAndUnfinishedOnesRedelivered() throws Exception {
        Ready.await();
        ControllableEngine engine = ((TestModelRuntime) runtime).control();
        String prompts = config.kafka().topics().prompts();
        String tokens = config.kafka().topics().tokens();
        String run = UUID.randomUUID().toString().substring(0, 8);
        try (KafkaProducer<String, String> producer = producer(); KafkaClient kafka = new KafkaClient(bootstrap)) {
            // 1. Finished before the shutdown.
            List<Produced> before = new ArrayList<>();
            for (int i = 0; i < 4; i++) before.add(produce(producer, prompts, "before-" + run + "-" + i, 4));
            kafka.tokenEvents(tokens, ids(before));

            // 2. Running at shutdown, done within the grace period (events 100 ms apart, 4 tokens at most).
            engine.setEventDelay(Duration.ofMillis(100));
            Produced inGrace = produce(producer, prompts, "in-grace-" + run, 4);
            awaitCondition("in-grace prompt submitted", () -> engine.submissions(inGrace.id()) == 1);

            // 3. Running at shutdown, far from done when the grace period ends (events 4 s apart, 100 tokens).
            engine.setEventDelay(Duration.ofSeconds(4));
            List<Produced> unfinished = new ArrayList<>();
            for (int i = 0; i < 3; i++) unfinished.add(produce(producer, prompts, "unfinished-" + run + "-" + i, 100));
            for (Produced p : unfinished) {
                awaitCondition(p.id() + " submitted", () -> engine.submissions(p.id()) == 1);
            }
            engine.setEventDelay(Duration.ZERO);

            // Shutdown; while it waits, readiness is down and new requests are refused.
            CompletableFuture<GracefulShutdown.Drained> drain = CompletableFuture.supplyAsync(() -> shutdown.drain(GRACE));
            awaitCondition("draining", service::draining);
            given().get("/q/health/ready").then().statusCode(503);
            given().contentType(ContentType.JSON).body("{\"prompt\":\"Once\",\"max_tokens\":2}")
                    .post("/v1/completions").then().statusCode(503);
            // A prompt produced now is not started.
            Produced late = produce(producer, prompts, "late-" + run, 4);
            GracefulShutdown.Drained drained = drain.get(GRACE.toSeconds() + 60, TimeUnit.SECONDS);

            assertEquals(ids(unfinished), drained.cancelledPrompts(), "the prompts still running after the grace period");
            assertEquals(0, engine.submissions(late.id()), "a prompt consumed during shutdown is not generated");
            kafka.tokenEvents(tokens, Set.of(inGrace.id())); // its last event was written

            // Finished prompts are committed: the group's offset passes each of them.
            List<Produced> finished = new ArrayList<>(before);
            finished.add(inGrace);
            try (Admin admin = Admin.create(Map.of(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap))) {
                awaitCondition("finished prompts committed", () -> finished.stream().allMatch(p -> committed(admin, p.partition()) > p.offset()));
                // Unfinished and late prompts never are: give a wrong acknowledgement several commit intervals to show.
                Thread.sleep(2_000);
                List<Produced> open = new ArrayList<>(unfinished);
                open.add(late);
                for (Produced p : open) {
                    assertTrue(committed(admin, p.partition()) <= p.offset(),
                            p.id() + " at offset " + p.offset() + " of " + p.partition() + " must stay uncommitted, committed is "
                                    + committed(admin, p.partition()));
                }
            }

            // A new consumer of the group gets exactly the open prompts again.
            Set<String> redelivered = redeliveredIds(prompts);
            Set<String> expected = ids(unfinished);
            expected.add(late.id());
            assertEquals(expected, redelivered);

            // No event claims an unfinished prompt ended: its regeneration will write the same (id, index) pairs.
            for (TokenEvent e : tokenEvents(tokens)) {
                if (expected.contains(e.requestId())) assertFalse(e.last(), "unexpected last event " + e);
            }
        } finally {
            engine.setEventDelay(Duration.ZERO);
        }
    }

    private static Set<String> ids(List<Produced> produced) {
        Set<String> ids = new HashSet<>();
        for (Produced p : produced) ids.add(p.id());
        return ids;
    }

    private KafkaProducer<String, String> producer() {
        Properties p = new Properties();
        p.put(ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
        p.put(ProducerConfig.KEY_SERIALIZER_CLASS_CONFIG, StringSerializer.class.getName());
        p.put(ProducerConfig.VALUE_SERIALIZER_CLASS_CONFIG, StringSerializer.class.getName());
        return new KafkaProducer<>(p);
    }

    private static Produced produce(KafkaProducer<String, String> producer, String topic, String id, int maxTokens) throws Exception {
        String json = "{\"id\":\"" + id + "\",\"prompt\":\"Once upon a time\",\"max_tokens\":" + maxTokens + ",\"seed\":7}";
        RecordMetadata m = producer.send(new ProducerRecord<>(topic, id, json)).get(60, TimeUnit.SECONDS);
        return new Produced(id, new TopicPartition(m.topic(), m.partition()), m.offset());
    }

    private long committed(Admin admin, TopicPartition partition) {
        try {
            Map<TopicPartition, OffsetAndMetadata> offsets = admin.listConsumerGroupOffsets(config.kafka().groupId())
                    .partitionsToOffsetAndMetadata().get(30, TimeUnit.SECONDS);
            OffsetAndMetadata o = offsets.get(partition);
            return o == null ? 0 : o.offset();
        } catch (Exception e) {
            throw new IllegalStateException(e);
        }
    }

    /** What a new member of the service's consumer group reads: every record from the committed offsets on. */
    private Set<String> redeliveredIds(String topic) {
        Properties p = consumerProperties();
        p.put(ConsumerConfig.GROUP_ID_CONFIG, config.kafka().groupId());
        Set<String> ids = new HashSet<>();
        try (KafkaConsumer<String, String> consumer = new KafkaConsumer<>(p)) {
            // assign (not subscribe): reads from the group's committed offsets without taking partitions from the
            // still-running service, and commits nothing.
            List<TopicPartition> partitions = consumer.partitionsFor(topic, KafkaClient.WAIT).stream()
                    .map(i -> new TopicPartition(topic, i.partition())).toList();
            consumer.assign(partitions);
            for (ConsumerRecord<String, String> r : readToEnd(consumer, partitions)) ids.add(r.key());
        }
        return ids;
    }

    private List<TokenEvent> tokenEvents(String topic) {
        List<TokenEvent> events = new ArrayList<>();
        try (KafkaConsumer<String, String> consumer = new KafkaConsumer<>(consumerProperties())) {
            List<TopicPartition> partitions = consumer.partitionsFor(topic, KafkaClient.WAIT).stream()
                    .map(i -> new TopicPartition(topic, i.partition())).toList();
            consumer.assign(partitions);
            consumer.seekToBeginning(partitions);
            for (ConsumerRecord<String, String> r : readToEnd(consumer, partitions)) events.add(TokenEventJson.parse(r.value()));
        }
        return events;
    }

    private Properties consumerProperties() {
        Properties p = new Properties();
        p.put(ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
        p.put(ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, false);
        p.put(ConsumerConfig.AUTO_OFFSET_RESET_CONFIG, "earliest");
        p.put(ConsumerConfig.KEY_DESERIALIZER_CLASS_CONFIG, StringDeserializer.class.getName());
        p.put(ConsumerConfig.VALUE_DESERIALIZER_CLASS_CONFIG, StringDeserializer.class.getName());
        return p;
    }

    private static List<ConsumerRecord<String, String>> readToEnd(KafkaConsumer<String, String> consumer, List<TopicPartition> partitions) {
        Map<TopicPartition, Long> end = new LinkedHashMap<>(consumer.endOffsets(partitions));
        List<ConsumerRecord<String, String>> records = new ArrayList<>();
        long deadline = System.nanoTime() + KafkaClient.WAIT.toNanos();
        Map<TopicPartition, Long> position = new HashMap<>();
        while (System.nanoTime() < deadline) {
            for (TopicPartition tp : partitions) position.put(tp, consumer.position(tp));
            if (partitions.stream().allMatch(tp -> position.get(tp) >= end.get(tp))) return records;
            for (ConsumerRecord<String, String> r : consumer.poll(Duration.ofMillis(200))) records.add(r);
        }
        throw new AssertionError("could not read " + partitions + " to its end " + end + " within " + KafkaClient.WAIT);
    }

    private static void awaitCondition(String what, BooleanSupplier condition) throws InterruptedException {
        long deadline = System.nanoTime() + KafkaClient.WAIT.toNanos();
        while (!condition.getAsBoolean()) {
            if (System.nanoTime() > deadline) throw new AssertionError("timed out waiting for: " + what);
            Thread.sleep(20);
        }
    }
}
