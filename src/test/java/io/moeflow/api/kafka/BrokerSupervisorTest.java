package io.moeflow.api.kafka;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import java.nio.file.Path;
import java.time.Duration;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.BooleanSupplier;
import java.util.function.Supplier;
import org.junit.jupiter.api.Test;

/** Supervision of the embedded broker with stand-in brokers; RestartIT kills a real one. */
class BrokerSupervisorTest {
    private static final Duration PAUSE = Duration.ofMillis(5);

    static final class FakeBroker implements BrokerSupervisor.Broker {
        final CompletableFuture<Integer> exit = new CompletableFuture<>();
        volatile boolean closed;

        @Override
        public CompletableFuture<Integer> exited() {
            return exit;
        }

        @Override
        public String bootstrapServers() {
            return "localhost:1";
        }

        @Override
        public Path logFile() {
            return Path.of("broker.log");
        }

        @Override
        public void close() {
            closed = true;
            exit.complete(143);
        }
    }

    private static void await(BooleanSupplier condition, String what) throws InterruptedException {
        long deadline = System.nanoTime() + Duration.ofSeconds(30).toNanos();
        while (!condition.getAsBoolean()) {
            if (System.nanoTime() > deadline) fail("gave up waiting for " + what);
            Thread.sleep(2);
        }
    }

    @Test
    void aBrokerThatDiesIsStartedAgainEveryTime() throws Exception {
        FakeBroker[] current = {new FakeBroker()};
        Supplier<FakeBroker> starter = () -> current[0] = new FakeBroker();
        try (BrokerSupervisor supervisor = new BrokerSupervisor(current[0], starter, 3, PAUSE, PAUSE, Duration.ZERO)) {
            // more crashes than attempts: each start succeeds, so the count of failures never runs out
            for (int crash = 1; crash <= 5; crash++) {
                FakeBroker dying = current[0];
                dying.exit.complete(137); // kill -9
                int expected = crash;
                await(() -> supervisor.restarts() == expected && supervisor.state() == BrokerSupervisor.State.UP, "restart " + crash);
            }
            assertEquals(BrokerSupervisor.State.UP, supervisor.state());
            assertTrue(supervisor.lastFailure().contains("137"), supervisor.lastFailure());
        }
        assertTrue(current[0].closed, "close stops the broker running now");
    }

    @Test
    void afterMaxAttemptsFailedStartsInARowItGivesUp() throws Exception {
        AtomicInteger tries = new AtomicInteger();
        Supplier<FakeBroker> failing = () -> {
            tries.incrementAndGet();
            throw new IllegalStateException("port 9092 is in use");
        };
        FakeBroker first = new FakeBroker();
        try (BrokerSupervisor supervisor = new BrokerSupervisor(first, failing, 4, PAUSE, Duration.ofMillis(20), Duration.ofHours(1))) {
            first.exit.complete(1);
            await(() -> supervisor.state() == BrokerSupervisor.State.FAILED, "giving up");
            assertEquals(4, tries.get(), "bounded attempts");
            assertEquals(0, supervisor.restarts());
            assertTrue(supervisor.lastFailure().contains("in use"), supervisor.lastFailure());
        }
    }

    @Test
    void closingStopsSupervisionAndNothingIsStartedAgain() throws Exception {
        AtomicInteger starts = new AtomicInteger();
        FakeBroker first = new FakeBroker();
        BrokerSupervisor supervisor = new BrokerSupervisor(first, () -> {
            starts.incrementAndGet();
            return new FakeBroker();
        }, 3, Duration.ofMillis(50), Duration.ofMillis(50), Duration.ZERO);
        supervisor.close(); // the broker exits because it is being stopped: not a crash
        assertTrue(first.closed);
        Thread.sleep(150);
        assertEquals(0, starts.get());
        assertEquals(BrokerSupervisor.State.STOPPED, supervisor.state());
    }
}
