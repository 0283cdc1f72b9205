package io.moeflow.api.kafka;

import com.fasterxml.jackson.databind.JsonNode;
import io.moeflow.api.MoeflowConfig;
import io.moeflow.api.RequestParser;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collection;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AlterConfigOp;
import org.apache.kafka.clients.admin.Config;
import org.apache.kafka.clients.admin.ConfigEntry;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.clients.admin.TopicDescription;
import org.apache.kafka.common.config.ConfigResource;
import org.apache.kafka.common.errors.TopicExistsException;
import org.apache.kafka.common.errors.UnknownTopicOrPartitionException;

/** The topics of kafka-topics/topics.json (packaged on the classpath), with names taken from the configuration. */
public final class TopicDefinitions {
    public static final String RESOURCE = "kafka-topics/topics.json";

    public record Topic(String role, String name, int partitions, Map<String, String> config) {
        /** Replication is left to the broker's default.replication.factor (1 on the embedded broker). */
        public NewTopic newTopic() {
            return new NewTopic(name, Optional.of(partitions), Optional.empty()).configs(config);
        }
    }

    /** What {@link #apply} did to one topic. */
    public enum Outcome { CREATED, UPDATED, UNCHANGED }

    /**
     * One topic's result. {@code changedConfig} lists the keys set to the definition's values; a partition count
     * that differs from the definition is reported, never changed (adding partitions moves keys to other
     * partitions, which breaks the per-request order of moeflow.tokens).
     */
    public record Applied(Topic topic, Outcome outcome, List<String> changedConfig, int actualPartitions) {
        public boolean partitionsDiffer() {
            return actualPartitions != topic.partitions();
        }

        public String describe() {
            String what = switch (outcome) {
                case CREATED -> "created with " + topic.partitions() + " partitions";
                case UPDATED -> "exists, config set: " + changedConfig;
                case UNCHANGED -> "exists, config as defined";
            };
            if (partitionsDiffer()) {
                what += "; WARNING: it has " + actualPartitions + " partitions, the definition says " + topic.partitions()
                        + " (not changed)";
            }
            return topic.name() + ": " + what;
        }
    }

    private TopicDefinitions() {}

    /** The topic names the service uses by default (those of topics.json and MoeflowConfig.Topics). */
    public static MoeflowConfig.Topics names(String prompts, String tokens, String dlq) {
        return new MoeflowConfig.Topics() {
            @Override
            public String prompts() {
                return prompts;
            }

            @Override
            public String tokens() {
                return tokens;
            }

            @Override
            public String dlq() {
                return dlq;
            }
        };
    }

    /**
     * Makes the cluster match {@code topics}, idempotently: creates the missing ones and sets the config entries
     * (retention, cleanup policy) of existing ones that differ. Safe to run from several replicas at once.
     */
    public static List<Applied> apply(Admin admin, Collection<Topic> topics, Duration timeout)
            throws ExecutionException, TimeoutException, InterruptedException {
        long timeoutMs = timeout.toMillis();
        Set<String> existing = admin.listTopics().names().get(timeoutMs, TimeUnit.MILLISECONDS);
        List<NewTopic> missing = topics.stream().filter(t -> !existing.contains(t.name())).map(Topic::newTopic).toList();
        Set<String> created = new HashSet<>();
        for (var entry : admin.createTopics(missing).values().entrySet()) {
            try {
                entry.getValue().get(timeoutMs, TimeUnit.MILLISECONDS);
                created.add(entry.getKey());
            } catch (ExecutionException e) {
                // another replica may have created it meanwhile
                if (!(e.getCause() instanceof TopicExistsException)) throw e;
            }
        }
        // Topics created just now already carry their definition; only the others are compared.
        List<String> names = topics.stream().map(Topic::name).filter(n -> !created.contains(n)).toList();
        long deadline = System.nanoTime() + timeout.toNanos();
        Map<String, TopicDescription> descriptions = names.isEmpty() ? Map.of()
                : untilKnown(deadline, () -> admin.describeTopics(names).allTopicNames().get(timeoutMs, TimeUnit.MILLISECONDS));
        List<ConfigResource> resources = names.stream().map(n -> new ConfigResource(ConfigResource.Type.TOPIC, n)).toList();
        Map<ConfigResource, Config> configs = names.isEmpty() ? Map.of()
                : untilKnown(deadline, () -> admin.describeConfigs(resources).all().get(timeoutMs, TimeUnit.MILLISECONDS));

        List<Applied> applied = new ArrayList<>();
        Map<ConfigResource, Collection<AlterConfigOp>> changes = new LinkedHashMap<>();
        for (Topic topic : topics) {
            if (created.contains(topic.name())) {
                applied.add(new Applied(topic, Outcome.CREATED, List.of(), topic.partitions()));
                continue;
            }
            ConfigResource resource = new ConfigResource(ConfigResource.Type.TOPIC, topic.name());
            Config actual = configs.get(resource);
            List<String> changed = new ArrayList<>();
            List<AlterConfigOp> ops = new ArrayList<>();
            topic.config().forEach((key, value) -> {
                ConfigEntry entry = actual == null ? null : actual.get(key);
                if (entry == null || !value.equals(entry.value())) {
                    changed.add(key);
                    ops.add(new AlterConfigOp(new ConfigEntry(key, value), AlterConfigOp.OpType.SET));
                }
            });
            if (!ops.isEmpty()) changes.put(resource, ops);
            int partitions = descriptions.get(topic.name()).partitions().size();
            applied.add(new Applied(topic, changed.isEmpty() ? Outcome.UNCHANGED : Outcome.UPDATED, List.copyOf(changed), partitions));
        }
        if (!changes.isEmpty()) admin.incrementalAlterConfigs(changes).all().get(timeoutMs, TimeUnit.MILLISECONDS);
        return List.copyOf(applied);
    }

    private interface AdminCall<T> {
        T call() throws ExecutionException, TimeoutException, InterruptedException;
    }

    /**
     * A topic another client created a moment ago (a replica starting at the same time) may not be in every
     * broker's metadata yet: retries while the topic is unknown, until {@code deadline}.
     */
    private static <T> T untilKnown(long deadline, AdminCall<T> call) throws ExecutionException, TimeoutException, InterruptedException {
        while (true) {
            try {
                return call.call();
            } catch (ExecutionException e) {
                if (!(e.getCause() instanceof UnknownTopicOrPartitionException) || System.nanoTime() > deadline) throw e;
                Thread.sleep(100);
            }
        }
    }

    /** The definitions of kafka-topics/topics.json, named as {@code names} says (see {@link #names}). */
    public static List<Topic> load(MoeflowConfig.Topics names) {
        JsonNode root;
        try (InputStream in = TopicDefinitions.class.getClassLoader().getResourceAsStream(RESOURCE)) {
            if (in == null) throw new IllegalStateException(RESOURCE + " is not on the classpath");
            root = RequestParser.JSON.readTree(in);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot read " + RESOURCE, e);
        }
        List<Topic> topics = new ArrayList<>();
        for (JsonNode t : root.path("topics")) {
            String role = t.path("role").asText();
            String name = switch (role) {
                case "prompts" -> names.prompts();
                case "tokens" -> names.tokens();
                case "dlq" -> names.dlq();
                default -> throw new IllegalStateException(RESOURCE + ": unknown topic role \"" + role + "\"");
            };
            Map<String, String> config = new LinkedHashMap<>();
            t.path("config").properties().forEach(e -> config.put(e.getKey(), e.getValue().asText()));
            int partitions = t.path("partitions").asInt(0);
            if (partitions <= 0) throw new IllegalStateException(RESOURCE + ": topic " + role + " needs partitions > 0");
            topics.add(new Topic(role, name, partitions, Map.copyOf(config)));
        }
        return List.copyOf(topics);
    }
}
