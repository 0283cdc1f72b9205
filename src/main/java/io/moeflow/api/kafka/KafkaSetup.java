package io.moeflow.api.kafka;

import io.moeflow.api.MoeflowConfig;
import io.quarkus.runtime.ImageMode;
import io.quarkus.runtime.Quarkus;
import io.quarkus.runtime.StartupEvent;
import io.smallrye.reactive.messaging.ChannelRegistry;
import io.smallrye.reactive.messaging.PausableChannel;
import jakarta.enterprise.context.ApplicationScoped;
import jakarta.enterprise.context.Destroyed;
import jakarta.enterprise.event.Observes;
import jakarta.inject.Inject;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeoutException;
import java.util.function.Supplier;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AdminClientConfig;
import org.apache.kafka.common.KafkaException;
import org.eclipse.microprofile.config.inject.ConfigProperty;
import org.jboss.logging.Logger;

/**
 * Starts the embedded broker when no cluster is configured, then creates the topics of kafka-topics/ that are
 * missing, in the background: the HTTP port opens at once and {@code /health} answers 503 meanwhile (the broker's JVM
 * takes 13-21 s). The prompts channel is configured paused with a late subscription
 * ({@code mp.messaging.incoming.prompts.pausable...}), so its Kafka consumer does not even subscribe before this is
 * done: no consumer of the prompts topic can auto-create it with the broker's default partition count, and a prompt
 * sent meanwhile waits in the topic until it is resumed here. Stops the broker last on shutdown; the broker's own
 * JVM also exits when this process dies (see {@link EmbeddedKafkaMain}).
 */
@ApplicationScoped
public class KafkaSetup {
    private static final Logger LOG = Logger.getLogger(KafkaSetup.class);
    /** The incoming channel of moeflow.prompts (application.properties), paused until the setup is done. */
    static final String PROMPTS_CHANNEL = "prompts";

    /** Where the setup is: STARTING until the broker answers and the topics are applied. */
    public enum Phase { STARTING, READY, FAILED }

    @Inject
    MoeflowConfig config;
    @Inject
    EmbeddedBrokerLauncher launcher;
    @Inject
    ChannelRegistry channels;

    @ConfigProperty(name = "kafka.bootstrap.servers")
    String bootstrapServers;

    /** Static: it is stopped after every application-scoped bean (the connectors among them) is gone. */
    private static volatile BrokerSupervisor broker;
    private static volatile Thread setup;
    private static volatile boolean stopping;

    private volatile Phase phase = Phase.STARTING;
    private volatile String failure;
    private final CompletableFuture<Void> done = new CompletableFuture<>();

    /**
     * After the messaging connectors are wired (they start at LIBRARY_BEFORE, the prompts channel paused): quick checks
     * here, so that a wrong setting still stops the start with its message, the slow part in the background.
     */
    void onStart(@Observes StartupEvent event) {
        MoeflowConfig.Kafka kafka = config.kafka();
        stopping = false;
        if (embedded()) {
            if (ImageMode.current() == ImageMode.NATIVE_RUN) {
                // The embedded broker is a child JVM started from this application's class path.
                throw new IllegalStateException("the native executable has no embedded Kafka broker: set "
                        + "moeflow.kafka.bootstrap-servers (MOEFLOW_KAFKA_BOOTSTRAP_SERVERS) to a cluster");
            }
            EmbeddedKafkaBroker.requirePortsFree(kafka.port(), kafka.controllerPort());
        }
        setup = Thread.ofPlatform().name("moeflow-kafka-setup").daemon().start(this::setUp);
    }

    private void setUp() {
        MoeflowConfig.Kafka kafka = config.kafka();
        try {
            if (embedded()) {
                Path dataDir = kafka.dataDir().map(Path::of)
                        .orElse(Path.of(System.getProperty("java.io.tmpdir"), "moeflow-kafka-" + kafka.port()));
                LOG.infof("Kafka: no bootstrap servers configured, starting an embedded broker on localhost:%d (data in %s);"
                        + " /health answers 503 until it is up", kafka.port(), dataDir);
                long start = System.nanoTime();
                Supplier<BrokerSupervisor.Broker> starter = () -> launcher.start(kafka, dataDir);
                BrokerSupervisor.Broker first = starter.get();
                LOG.infof("Kafka: embedded broker ready at %s in %d ms (log: %s)", first.bootstrapServers(),
                        (System.nanoTime() - start) / 1_000_000, first.logFile());
                BrokerSupervisor supervisor = new BrokerSupervisor(first, starter, kafka.embeddedRestarts(),
                        Duration.ofSeconds(1), Duration.ofSeconds(30), Duration.ofMinutes(5));
                synchronized (KafkaSetup.class) {
                    if (stopping) {
                        supervisor.close(); // shut down while it started
                        return;
                    }
                    broker = supervisor;
                }
            } else {
                LOG.infof("Kafka: using the cluster at %s", bootstrapServers);
            }
            if (kafka.createTopics()) createTopics();
            if (stopping) return;
            phase = Phase.READY;
            resumePrompts();
            done.complete(null);
        } catch (RuntimeException e) {
            if (stopping) return;
            failure = e.getMessage();
            phase = Phase.FAILED;
            done.completeExceptionally(e);
            // as when the start itself failed before: the service does not run without its broker
            LOG.errorf("Kafka: %s; stopping the service", e.getMessage());
            Quarkus.asyncExit(1);
        }
    }

    private void resumePrompts() {
        PausableChannel prompts = channels.getPausable(PROMPTS_CHANNEL);
        if (prompts == null) {
            LOG.debugf("Kafka: channel %s is not pausable; nothing to resume", PROMPTS_CHANNEL);
            return;
        }
        prompts.resume();
        LOG.infof("Kafka: consuming %s", config.kafka().topics().prompts());
    }

    public Phase phase() {
        return phase;
    }

    /** Why the setup failed (phase FAILED), else empty. */
    public Optional<String> failure() {
        return Optional.ofNullable(failure);
    }

    /** Completes once the broker answers and the topics are applied (and the prompts are consumed). */
    public CompletionStage<Void> done() {
        return done;
    }

    /** What the setup is doing now, for /health: "starting the embedded Kafka broker" or "creating the Kafka topics". */
    public String describe() {
        return switch (phase) {
            case READY -> "ready";
            case FAILED -> "failed: " + failure;
            case STARTING -> embedded() && broker == null ? "starting the embedded Kafka broker" : "creating the Kafka topics";
        };
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
        BrokerSupervisor running;
        synchronized (KafkaSetup.class) {
            stopping = true;
            running = broker;
        }
        Thread starting = setup;
        if (starting != null) starting.interrupt(); // a start in progress closes its broker and gives up
        setup = null;
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
        } catch (ExecutionException | TimeoutException | KafkaException e) {
            // An unreachable external cluster must not stop the service: readiness reports Kafka down meanwhile.
            LOG.warnf("Kafka: could not create the topics at %s: %s", bootstrapServers,
                    e.getCause() != null ? e.getCause().getMessage() : e.toString());
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }
}
