package io.moeflow.deploy;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.moeflow.api.testing.KafkaTestResource;
import io.moeflow.cli.Main;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.Callable;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AdminClientConfig;
import org.apache.kafka.clients.admin.AlterConfigOp;
import org.apache.kafka.clients.admin.Config;
import org.apache.kafka.clients.admin.ConfigEntry;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.common.config.ConfigResource;
import org.apache.kafka.common.errors.UnknownTopicOrPartitionException;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/** {@code moeflow topics create} against a real KRaft broker: creates what kafka-topics/topics.json defines, idempotently. */
class TopicsCommandTest {
    private static final KafkaTestResource KAFKA = new KafkaTestResource();
    private static String bootstrap;
    private static Admin admin;

    @BeforeAll
    static void startBroker() {
        bootstrap = KAFKA.start().get("moeflow.kafka.bootstrap-servers");
        admin = Admin.create(Map.of(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap));
    }

    @AfterAll
    static void stopBroker() {
        if (admin != null) admin.close();
        KAFKA.stop();
    }

    private record Run(int exitCode, String out, String err) {}

    private static synchronized Run topics(String... args) {
        PrintStream originalOut = System.out, originalErr = System.err;
        ByteArrayOutputStream out = new ByteArrayOutputStream(), err = new ByteArrayOutputStream();
        try (PrintStream o = new PrintStream(out, true, StandardCharsets.UTF_8);
             PrintStream e = new PrintStream(err, true, StandardCharsets.UTF_8)) {
            System.setOut(o);
            System.setErr(e);
            int code = Main.run(args);
            return new Run(code, out.toString(StandardCharsets.UTF_8), err.toString(StandardCharsets.UTF_8));
        } finally {
            System.setOut(originalOut);
            System.setErr(originalErr);
        }
    }

    private static String[] create(String prefix, String... extra) {
        List<String> args = new java.util.ArrayList<>(List.of("topics", "create", "--bootstrap-servers", bootstrap,
                "--prompts-topic", prefix + ".prompts", "--tokens-topic", prefix + ".tokens", "--dlq-topic", prefix + ".dlq"));
        args.addAll(List.of(extra));
        return args.toArray(String[]::new);
    }

    /** The definitions, read straight from the repository file (not through the code under test). */
    private static JsonNode definition(String role) throws Exception {
        JsonNode root = new ObjectMapper().readTree(Path.of("kafka-topics/topics.json").toFile());
        for (JsonNode t : root.get("topics")) if (t.get("role").asText().equals(role)) return t;
        throw new AssertionError("no topic with role " + role + " in kafka-topics/topics.json");
    }

    private static Config config(String topic) throws Exception {
        ConfigResource resource = new ConfigResource(ConfigResource.Type.TOPIC, topic);
        return untilKnown(() -> admin.describeConfigs(List.of(resource)).all().get(30, TimeUnit.SECONDS).get(resource));
    }

    private static int partitions(String topic) throws Exception {
        return untilKnown(() -> admin.describeTopics(List.of(topic)).allTopicNames().get(30, TimeUnit.SECONDS).get(topic).partitions().size());
    }

    /** A topic created a moment ago may not be in the broker's metadata yet: retry while it is unknown. */
    private static <T> T untilKnown(Callable<T> call) throws Exception {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
        while (true) {
            try {
                return call.call();
            } catch (ExecutionException e) {
                if (!(e.getCause() instanceof UnknownTopicOrPartitionException) || System.nanoTime() > deadline) throw e;
                Thread.sleep(50);
            }
        }
    }

    @Test
    void createsEveryDefinedTopicThenChangesNothingOnASecondRun() throws Exception {
        Run first = topics(create("first"));
        assertEquals(0, first.exitCode(), first.out());
        for (String role : List.of("prompts", "tokens", "dlq")) {
            String name = "first." + role;
            JsonNode def = definition(role);
            assertEquals(def.get("partitions").asInt(), partitions(name), name);
            Config actual = config(name);
            def.get("config").properties().forEach(e ->
                    assertEquals(e.getValue().asText(), actual.get(e.getKey()).value(), name + " " + e.getKey()));
            assertTrue(first.out().contains(name + ": created with " + def.get("partitions").asInt() + " partitions"), first.out());
        }

        Run second = topics(create("first"));
        assertEquals(0, second.exitCode(), second.out());
        assertEquals(3, second.out().lines().filter(l -> l.endsWith("exists, config as defined")).count(), second.out());
    }

    @Test
    void restoresAConfigValueThatDriftedFromTheDefinition() throws Exception {
        assertEquals(0, topics(create("drift")).exitCode());
        ConfigResource tokens = new ConfigResource(ConfigResource.Type.TOPIC, "drift.tokens");
        admin.incrementalAlterConfigs(Map.of(tokens, List.of(new AlterConfigOp(new ConfigEntry("retention.ms", "1234"),
                AlterConfigOp.OpType.SET)))).all().get(30, TimeUnit.SECONDS);
        // Config changes reach the broker's view asynchronously: wait until the drift is visible.
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
        while (!"1234".equals(config("drift.tokens").get("retention.ms").value()) && System.nanoTime() < deadline) {
            Thread.sleep(50);
        }
        assertEquals("1234", config("drift.tokens").get("retention.ms").value());

        Run again = topics(create("drift"));
        assertEquals(0, again.exitCode(), again.out());
        assertTrue(again.out().contains("drift.tokens: exists, config set: [retention.ms]"), again.out());
        String defined = definition("tokens").get("config").get("retention.ms").asText();
        deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
        while (!defined.equals(config("drift.tokens").get("retention.ms").value()) && System.nanoTime() < deadline) {
            Thread.sleep(50);
        }
        assertEquals(defined, config("drift.tokens").get("retention.ms").value());
    }

    @Test
    void reportsButNeverChangesAPartitionCountThatDiffers() throws Exception {
        admin.createTopics(List.of(new NewTopic("small.prompts", Optional.of(2), Optional.empty())))
                .all().get(30, TimeUnit.SECONDS);

        Run run = topics(create("small"));
        assertEquals(1, run.exitCode(), run.out());
        assertTrue(run.out().contains("small.prompts: exists") && run.out().contains("WARNING: it has 2 partitions, the definition says "
                + definition("prompts").get("partitions").asInt()), run.out());
        assertEquals(2, partitions("small.prompts"));
        // the other topics were still created
        assertTrue(admin.listTopics().names().get(30, TimeUnit.SECONDS).containsAll(Set.of("small.tokens", "small.dlq")));
    }

    @Test
    void anUnreachableClusterIsAClearErrorNotAHang() {
        Run run = topics("topics", "create", "--bootstrap-servers", "127.0.0.1:1", "--timeout-seconds", "2");
        assertEquals(2, run.exitCode(), run.err());
        assertTrue(run.err().contains("moeflow: no answer from the Kafka cluster at 127.0.0.1:1 within 2 s"), run.err());
    }
}
