package io.moeflow.api.kafka;

import io.moeflow.api.MoeflowConfig;
import io.quarkus.runtime.ShutdownEvent;
import io.quarkus.runtime.ImageMode;
import io.quarkus.runtime.StartupEvent;
import jakarta.annotation.Priority;
import jakarta.enterprise.context.ApplicationScoped;
import jakarta.enterprise.context.Destroyed;
import jakarta.enterprise.event.Observes;
import jakarta.inject.Inject;
import jakarta.interceptor.Interceptor;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeoutException;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AdminClientConfig;
import org.eclipse.microprofile.config.inject.ConfigProperty;
import org.jboss.logging.Logger;

/**
 * Runs before the messaging connectors start (they start at LIBRARY_BEFORE): starts the embedded broker when no
 * cluster is configured, then creates the topics of kafka-topics/ that are missing. Stops the broker last on
 * shutdown; the broker's own JVM also exits when this process dies (see {@link EmbeddedKafkaMain}).
 */
@ApplicationScoped
public class KafkaSetup {
    private static final Logger LOG = Logger.getLogger(KafkaSetup.class);

    @Inject
    MoeflowConfig config;

    @ConfigProperty(name = "kafka.bootstrap.servers")
    String bootstrapServers;

    /** Static: it is stopped after every application-scoped bean (the connectors among them) is gone. */
    private static volatile BrokerSupervisor broker;

    void onStart(@Observes @Priority(Interceptor.Priority.PLATFORM_BEFORE) StartupEvent event) {
        MoeflowConfig.Kafka kafka = config.kafka();
        if (embedded()) {
            if (ImageMode.current() == ImageMode.NATIVE_RUN) {
                // The embedded broker is a child JVM started from this application's class path.
                throw new IllegalStateException("the native executable has no embedded Kafka broker: set "
                        + "moeflow.kafka.bootstrap-servers (MOEFLOW_KAFKA_BOOTSTRAP_SERVERS) to a cluster");
            }
            Path dataDir = kafka.dataDir().map(Path::of)
                    .orElse(Path.of(System.getProperty("java.io.tmpdir"), "moeflow-kafka-" + kafka.port()));
            LOG.infof("Kafka: no bootstrap servers configured, starting an embedded broker on localhost:%d (data in %s)",
                    kafka.port(), dataDir);
            long start = System.nanoTime();
            java.util.function.Supplier<EmbeddedKafkaBroker> starter = () -> EmbeddedKafkaBroker.start(kafka.port(),
                    kafka.controllerPort(), dataDir, kafka.heap(), kafka.startTimeout());
            EmbeddedKafkaBroker first = starter.get();
            LOG.infof("Kafka: embedded broker ready at %s in %d ms (log: %s)", first.bootstrapServers(),
                    (System.nanoTime() - start) / 1_000_000, first.logFile());
            broker = new BrokerSupervisor(first, starter, kafka.embeddedRestarts(), Duration.ofSeconds(1),
                    Duration.ofSeconds(30), Duration.ofMinutes(5));
        } else {
            LOG.infof("Kafka: using the cluster at %s", bootstrapServers);
        }
        if (kafka.createTopics()) createTopics();
    }

    /** The supervisor of the embedded broker; empty with an external cluster (or before start-up). */
    public static java.util.Optional<BrokerSupervisor> embeddedBroker() {
        return java.util.Optional.ofNullable(broker);
    }

    /** Embedded unless configured otherwise or bootstrap servers are given. */
    public boolean embedded() {
        return config.kafka().embedded().orElse(config.kafka().bootstrapServers().isEmpty());
    }

    /** After the messaging connectors closed (they close when their beans are destroyed): stop the broker. */
    static void onStop(@Observes @Destroyed(ApplicationScoped.class) Object event) {
        BrokerSupervisor running = broker;
        if (running != null) {
            LOG.info("Kafka: stopping the embedded broker");
            running.close();
            broker = null;
        }
    }

    private void createTopics() {
        List<TopicDefinitions.Topic> topics = TopicDefinitions.load(config.kafka().topics());
        long timeoutMs = config.kafka().startTimeout().toMillis();
        try (Admin admin = Admin.create(Map.of(
                AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrapServers,
                AdminClientConfig.DEFAULT_API_TIMEOUT_MS_CONFIG, (int) Math.min(timeoutMs, Integer.MAX_VALUE)))) {
            // The same idempotent apply as `moeflow topics create`.
            for (TopicDefinitions.Applied applied : TopicDefinitions.apply(admin, topics, config.kafka().startTimeout())) {
                if (applied.partitionsDiffer()) LOG.warn("Kafka: topic " + applied.describe());
                else LOG.info("Kafka: topic " + applied.describe());
            }
        } catch (ExecutionException | TimeoutException e) {
            // An unreachable external cluster must not stop the service: readiness reports Kafka down meanwhile.
            LOG.warnf("Kafka: could not create the topics at %s: %s", bootstrapServers,
                    e.getCause() != null ? e.getCause().getMessage() : e.toString());
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }
}
