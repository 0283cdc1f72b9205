package io.moeflow.api.kafka;

import com.fasterxml.jackson.databind.JsonNode;
import io.moeflow.api.MoeflowConfig;
import io.moeflow.api.RequestParser;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import org.apache.kafka.clients.admin.NewTopic;

/** The topics of kafka-topics/topics.json (packaged on the classpath), with names taken from the configuration. */
public final class TopicDefinitions {
    public static final String RESOURCE = "kafka-topics/topics.json";

    public record Topic(String role, String name, int partitions, Map<String, String> config) {
        /** Replication is left to the broker's default.replication.factor (1 on the embedded broker). */
        public NewTopic newTopic() {
            return new NewTopic(name, Optional.of(partitions), Optional.empty()).configs(config);
        }
    }

    private TopicDefinitions() {}

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
