package io.moeflow.cli;

import io.moeflow.api.kafka.TopicDefinitions;
import java.io.IOException;
import java.io.InputStream;
import java.io.PrintWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Properties;
import java.util.concurrent.Callable;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeoutException;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AdminClientConfig;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

/**
 * {@code moeflow topics create}: applies the definitions of kafka-topics/topics.json to a cluster with the Kafka
 * AdminClient, the same code the service runs at start-up. Defaults come from the service's environment variables,
 * so a Kubernetes Job with the service's ConfigMap creates the topics the service will use.
 */
@Command(name = "topics", mixinStandardHelpOptions = true, description = "Kafka topics of moeflow (kafka-topics/).",
        subcommands = {TopicsCommand.Create.class})
final class TopicsCommand implements Runnable {
    @Spec
    CommandSpec spec;

    @Override
    public void run() {
        spec.commandLine().usage(spec.commandLine().getOut());
    }

    @Command(name = "create", mixinStandardHelpOptions = true, description = {
            "Creates the missing topics of kafka-topics/topics.json and sets the configs of existing ones (idempotent).",
            "A partition count that differs from the definition is reported (exit code 1), never changed."})
    static final class Create implements Callable<Integer> {
        @Spec
        CommandSpec spec;

        @Option(names = "--bootstrap-servers", paramLabel = "HOST:PORT[,HOST:PORT...]",
                defaultValue = "${env:MOEFLOW_KAFKA_BOOTSTRAP_SERVERS}",
                description = "The cluster (default: $MOEFLOW_KAFKA_BOOTSTRAP_SERVERS).")
        String bootstrapServers;

        @Option(names = "--prompts-topic", defaultValue = "${env:MOEFLOW_KAFKA_TOPICS_PROMPTS:-moeflow.prompts}",
                description = "Name of the prompts topic (default: ${DEFAULT-VALUE}).")
        String prompts;

        @Option(names = "--tokens-topic", defaultValue = "${env:MOEFLOW_KAFKA_TOPICS_TOKENS:-moeflow.tokens}",
                description = "Name of the token events topic (default: ${DEFAULT-VALUE}).")
        String tokens;

        @Option(names = "--dlq-topic", defaultValue = "${env:MOEFLOW_KAFKA_TOPICS_DLQ:-moeflow.prompts.dlq}",
                description = "Name of the dead letter topic (default: ${DEFAULT-VALUE}).")
        String dlq;

        @Option(names = "--command-config", paramLabel = "FILE",
                description = "Admin client properties (security.protocol, sasl.*, ssl.*), as for kafka-topics.sh.")
        Path commandConfig;

        @Option(names = "--timeout-seconds", defaultValue = "60", description = "How long to wait for the cluster (default: ${DEFAULT-VALUE}).")
        int timeoutSeconds;

        @Override
        public Integer call() throws IOException, ExecutionException, TimeoutException, InterruptedException {
            if (bootstrapServers == null || bootstrapServers.isBlank()) {
                throw new IllegalArgumentException("--bootstrap-servers is required (or set MOEFLOW_KAFKA_BOOTSTRAP_SERVERS)");
            }
            if (timeoutSeconds < 1) throw new IllegalArgumentException("--timeout-seconds must be >= 1, got " + timeoutSeconds);
            Properties props = new Properties();
            if (commandConfig != null) {
                try (InputStream in = Files.newInputStream(commandConfig)) {
                    props.load(in);
                }
            }
            props.put(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrapServers);
            int timeoutMs = timeoutSeconds * 1000;
            props.put(AdminClientConfig.DEFAULT_API_TIMEOUT_MS_CONFIG, timeoutMs);
            // The client refuses an API timeout shorter than its request timeout.
            props.put(AdminClientConfig.REQUEST_TIMEOUT_MS_CONFIG, Math.min(timeoutMs, 30_000));
            List<TopicDefinitions.Topic> topics = TopicDefinitions.load(TopicDefinitions.names(prompts, tokens, dlq));
            PrintWriter out = spec.commandLine().getOut();
            boolean partitionsDiffer = false;
            try (Admin admin = Admin.create(props)) {
                for (TopicDefinitions.Applied applied : TopicDefinitions.apply(admin, topics, Duration.ofSeconds(timeoutSeconds))) {
                    out.println(applied.describe());
                    partitionsDiffer |= applied.partitionsDiffer();
                }
            } catch (TimeoutException | ExecutionException e) {
                if (e instanceof ExecutionException && !(e.getCause() instanceof org.apache.kafka.common.errors.TimeoutException)) throw e;
                throw new TimeoutException("no answer from the Kafka cluster at " + bootstrapServers + " within "
                        + timeoutSeconds + " s");
            }
            out.flush();
            return partitionsDiffer ? 1 : 0;
        }
    }
}
