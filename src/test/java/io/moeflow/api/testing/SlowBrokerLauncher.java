package io.moeflow.api.testing;

import io.moeflow.api.MoeflowConfig;
import io.moeflow.api.kafka.BrokerSupervisor;
import io.moeflow.api.kafka.EmbeddedBrokerLauncher;
import jakarta.annotation.Priority;
import jakarta.enterprise.context.ApplicationScoped;
import jakarta.enterprise.inject.Alternative;
import java.nio.file.Path;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;

/**
 * The embedded broker's launcher of the @QuarkusTests: the real one, unless a test {@link #hold}s the next start,
 * which then waits until {@link #release} and stands in the test cluster (already running) for the broker, as a
 * broker JVM that takes that long to answer would.
 */
@Alternative
@Priority(1)
@ApplicationScoped
public class SlowBrokerLauncher extends EmbeddedBrokerLauncher {
    private static volatile CountDownLatch held;

    /** The next start waits for {@link #release}. */
    public static void hold() {
        held = new CountDownLatch(1);
    }

    public static void release() {
        CountDownLatch h = held;
        if (h != null) h.countDown();
    }

    @Override
    public BrokerSupervisor.Broker start(MoeflowConfig.Kafka kafka, Path dataDir) {
        CountDownLatch h = held;
        if (h == null) return super.start(kafka, dataDir);
        try {
            h.await();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException("interrupted while starting the embedded Kafka broker", e);
        }
        held = null;
        CompletableFuture<Integer> exited = new CompletableFuture<>();
        return new BrokerSupervisor.Broker() {
            @Override
            public CompletableFuture<Integer> exited() {
                return exited;
            }

            @Override
            public String bootstrapServers() {
                return "the test cluster";
            }

            @Override
            public Path logFile() {
                return dataDir.resolve("broker.log");
            }

            @Override
            public void close() {
                exited.complete(0);
            }
        };
    }
}
