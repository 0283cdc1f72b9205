package io.moeflow.api.kafka;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.URL;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.time.Duration;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AdminClientConfig;
import org.apache.kafka.common.Uuid;
import org.jboss.logging.Logger;

/**
 * A real single-node Kafka broker (KRaft, combined broker and controller) in a child JVM running kafka.Kafka from
 * the kafka_2.13 jar on this application's classpath. Its storage is formatted on first use and kept in
 * {@code dataDir} across restarts, so committed offsets and unread events survive a restart of the service.
 */
public final class EmbeddedKafkaBroker implements BrokerSupervisor.Broker {
    private static final Logger LOG = Logger.getLogger(EmbeddedKafkaBroker.class);

    private final Process process;
    private final String bootstrapServers;
    private final Path logFile;

    private EmbeddedKafkaBroker(Process process, String bootstrapServers, Path logFile) {
        this.process = process;
        this.bootstrapServers = bootstrapServers;
        this.logFile = logFile;
    }

    @Override
    public String bootstrapServers() {
        return bootstrapServers;
    }

    @Override
    public Path logFile() {
        return logFile;
    }

    /** Completes with the exit code when the broker's JVM exits, however (a crash, a kill, {@link #close()}). */
    @Override
    public java.util.concurrent.CompletableFuture<Integer> exited() {
        return process.onExit().thenApply(Process::exitValue);
    }

    public long pid() {
        return process.pid();
    }

    public boolean alive() {
        return process.isAlive();
    }

    /** Formats (once) and starts the broker, returning when it answers a metadata request. */
    public static EmbeddedKafkaBroker start(int port, int controllerPort, Path dataDir, String heap, Duration timeout) {
        requirePortsFree(port, controllerPort);
        try {
            Files.createDirectories(dataDir);
            Path logDir = dataDir.resolve("log");
            Path properties = dataDir.resolve("server.properties");
            Files.writeString(properties, serverProperties(port, controllerPort, logDir), StandardCharsets.UTF_8);
            Path logFile = dataDir.resolve("broker.log");
            String java = ProcessHandle.current().info().command().orElse("java");
            String classpath = classpath();

            // Formatted once; a restart keeps the cluster id, topics, committed offsets and unread events.
            if (!Files.exists(logDir.resolve("meta.properties"))) {
                List<String> format = List.of(java, "-Xmx256m", "-cp", classpath, "kafka.tools.StorageTool",
                        "format", "-t", Uuid.randomUuid().toString(), "-c", properties.toString());
                Process formatting = new ProcessBuilder(format).redirectErrorStream(true)
                        .redirectOutput(ProcessBuilder.Redirect.appendTo(logFile.toFile())).start();
                if (!formatting.waitFor(timeout.toMillis(), TimeUnit.MILLISECONDS) || formatting.exitValue() != 0) {
                    formatting.destroyForcibly();
                    throw new IllegalStateException("formatting the embedded Kafka storage in " + logDir + " failed; see " + logFile);
                }
            }

            List<String> run = List.of(java, "-Xms64m", "-Xmx" + heap, "-XX:+UseSerialGC",
                    "-Djava.util.logging.manager=org.jboss.logmanager.LogManager", "-cp", classpath, EmbeddedKafkaMain.class.getName(), properties.toString());
            // stdin stays a pipe from this process: EmbeddedKafkaMain exits when it closes.
            Process process = new ProcessBuilder(run).redirectErrorStream(true)
                    .redirectOutput(ProcessBuilder.Redirect.appendTo(logFile.toFile())).start();
            String bootstrap = "localhost:" + port;
            EmbeddedKafkaBroker broker = new EmbeddedKafkaBroker(process, bootstrap, logFile);
            try {
                broker.awaitReady(timeout);
            } catch (RuntimeException | InterruptedException e) {
                broker.close();
                throw e;
            }
            return broker;
        } catch (IOException e) {
            throw new UncheckedIOException("cannot start the embedded Kafka broker in " + dataDir, e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException("interrupted while starting the embedded Kafka broker", e);
        }
    }

    static String serverProperties(int port, int controllerPort, Path logDir) {
        return String.join("\n",
                "process.roles=broker,controller",
                "node.id=1",
                "controller.quorum.voters=1@localhost:" + controllerPort,
                "listeners=PLAINTEXT://localhost:" + port + ",CONTROLLER://localhost:" + controllerPort,
                "advertised.listeners=PLAINTEXT://localhost:" + port,
                "controller.listener.names=CONTROLLER",
                "inter.broker.listener.name=PLAINTEXT",
                "listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT",
                "log.dirs=" + logDir.toAbsolutePath(),
                "num.partitions=1",
                "default.replication.factor=1",
                "offsets.topic.replication.factor=1",
                "transaction.state.log.replication.factor=1",
                "transaction.state.log.min.isr=1",
                "share.coordinator.state.topic.replication.factor=1",
                "share.coordinator.state.topic.min.isr=1",
                "group.initial.rebalance.delay.ms=0",
                "");
    }

    private void awaitReady(Duration timeout) throws InterruptedException {
        long deadline = System.nanoTime() + timeout.toNanos();
        awaitListening(deadline, timeout);
        try (Admin admin = Admin.create(Map.of(
                AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrapServers,
                AdminClientConfig.REQUEST_TIMEOUT_MS_CONFIG, 2000,
                AdminClientConfig.DEFAULT_API_TIMEOUT_MS_CONFIG, 3000,
                AdminClientConfig.RECONNECT_BACKOFF_MAX_MS_CONFIG, 500))) {
            while (true) {
                requireAlive();
                try {
                    if (!admin.describeCluster().nodes().get(3, TimeUnit.SECONDS).isEmpty()) return;
                } catch (ExecutionException | TimeoutException notYet) {
                    // still starting
                }
                if (System.nanoTime() > deadline) {
                    throw new IllegalStateException("the embedded Kafka broker did not answer within " + timeout + "; see " + logFile);
                }
                Thread.sleep(200);
            }
        }
    }

    private void requireAlive() {
        if (!process.isAlive()) {
            throw new IllegalStateException("the embedded Kafka broker exited with code " + process.exitValue() + "; see " + logFile);
        }
    }

    /** Waits until the client port accepts connections, so the admin client does not log refused connections. */
    private void awaitListening(long deadline, Duration timeout) throws InterruptedException {
        int port = Integer.parseInt(bootstrapServers.substring(bootstrapServers.lastIndexOf(':') + 1));
        while (true) {
            try (java.net.Socket socket = new java.net.Socket()) {
                socket.connect(new InetSocketAddress("localhost", port), 500);
                return;
            } catch (IOException notYet) {
                // not listening yet
            }
            requireAlive();
            if (System.nanoTime() > deadline) {
                throw new IllegalStateException("the embedded Kafka broker did not listen on port " + port + " within "
                        + timeout + "; see " + logFile);
            }
            Thread.sleep(100);
        }
    }

    /**
     * The child's classpath: the folder of the kafka_2.13 jar (in the packaged application, lib/main holds every
     * dependency), this JVM's own class path, and the location of {@link EmbeddedKafkaMain}.
     */
    static String classpath() {
        Set<String> entries = new LinkedHashSet<>();
        Path kafkaJar = location("kafka/Kafka.class");
        if (kafkaJar != null && Files.isRegularFile(kafkaJar)) entries.add(kafkaJar.getParent().resolve("*").toString());
        Path self = location(EmbeddedKafkaMain.class.getName().replace('.', '/') + ".class");
        if (self != null) entries.add(self.toString());
        for (String entry : System.getProperty("java.class.path", "").split(java.io.File.pathSeparator)) {
            if (!entry.isBlank()) entries.add(entry);
        }
        return String.join(java.io.File.pathSeparator, entries);
    }

    /** The jar or folder a class resource is loaded from, or null. */
    private static Path location(String resource) {
        URL url = EmbeddedKafkaBroker.class.getClassLoader().getResource(resource);
        if (url == null) return null;
        String s = url.toString();
        try {
            if (s.startsWith("jar:")) {
                String file = s.substring(4, s.indexOf("!/"));
                return Paths.get(new java.net.URI(file));
            }
            if (s.startsWith("file:")) {
                Path p = Paths.get(url.toURI());
                // strip the resource's own path to get the classpath root folder
                for (int i = resource.split("/").length; i > 0; i--) p = p.getParent();
                return p;
            }
        } catch (java.net.URISyntaxException | RuntimeException e) {
            LOG.debugf("cannot locate %s from %s: %s", resource, s, e.getMessage());
        }
        return null;
    }

    /** Fails at once, naming the option, when a port the broker needs is taken (before a slow start in the background). */
    public static void requirePortsFree(int port, int controllerPort) {
        requireFree(port, "moeflow.kafka.port");
        requireFree(controllerPort, "moeflow.kafka.controller-port");
    }

    private static void requireFree(int port, String option) {
        try (ServerSocket socket = new ServerSocket()) {
            socket.setReuseAddress(true);
            socket.bind(new InetSocketAddress("localhost", port));
        } catch (IOException e) {
            throw new IllegalStateException("port " + port + " is in use, so the embedded Kafka broker cannot start: "
                    + "stop what holds it, choose another port with " + option
                    + ", or use an existing cluster with moeflow.kafka.bootstrap-servers");
        }
    }

    /** Stops the broker (orderly shutdown, then forcibly after 20 s). */
    @Override
    public void close() {
        if (!process.isAlive()) return;
        process.destroy();
        try {
            if (!process.waitFor(20, TimeUnit.SECONDS)) {
                LOG.warn("the embedded Kafka broker did not stop within 20 s; killing it");
                process.destroyForcibly().waitFor(5, TimeUnit.SECONDS);
            }
        } catch (InterruptedException e) {
            process.destroyForcibly();
            Thread.currentThread().interrupt();
        }
    }
}
