package io.moeflow.api.kafka;

import java.time.Duration;
import java.util.function.Supplier;
import org.jboss.logging.Logger;

/**
 * Keeps the embedded broker running: when its JVM exits while the service runs (a crash, an OOM kill, a stray
 * {@code kill -9}), it is started again on the same ports and data directory after a pause that doubles from
 * {@code firstPause} up to {@code maxPause}. After {@code maxAttempts} failed starts in a row it gives up: the state
 * becomes FAILED, which liveness reports, so that the orchestrator restarts the whole service. A broker that stayed
 * up for {@code stableAfter} counts as recovered (the next crash starts counting from one again). The clients
 * (consumers, producer, the event tail) reconnect by themselves once it listens again.
 */
public final class BrokerSupervisor implements AutoCloseable {
    private static final Logger LOG = Logger.getLogger(BrokerSupervisor.class);

    public enum State { UP, RESTARTING, FAILED, STOPPED }

    /** What is supervised: {@link Broker} (tests use stand-ins). */
    public interface Broker extends AutoCloseable {
        /** Completes with the exit code when the broker's process ends. */
        java.util.concurrent.CompletableFuture<Integer> exited();

        String bootstrapServers();

        java.nio.file.Path logFile();

        @Override
        void close();
    }

    private final Supplier<? extends Broker> starter;
    private final int maxAttempts;
    private final Duration firstPause;
    private final Duration maxPause;
    private final Duration stableAfter;
    private final Object lock = new Object();
    private Broker broker;
    private volatile State state = State.UP;
    private volatile int restarts;
    private volatile String lastFailure;
    private long upSince;
    private int failedInARow;
    private Thread restarter;

    /** Supervises {@code first}, already started; {@code starter} starts a new one the same way. */
    public BrokerSupervisor(Broker first, Supplier<? extends Broker> starter, int maxAttempts,
                            Duration firstPause, Duration maxPause, Duration stableAfter) {
        this.starter = starter;
        this.maxAttempts = maxAttempts;
        this.firstPause = firstPause;
        this.maxPause = maxPause;
        this.stableAfter = stableAfter;
        watch(first);
    }

    private void watch(Broker b) {
        synchronized (lock) {
            broker = b;
            upSince = System.nanoTime();
            state = State.UP;
        }
        b.exited().thenAccept(code -> exited(b, code));
    }

    private void exited(Broker b, int code) {
        synchronized (lock) {
            if (state == State.STOPPED || b != broker) return;
            if (System.nanoTime() - upSince >= stableAfter.toNanos()) failedInARow = 0;
            state = State.RESTARTING;
            lastFailure = "the embedded broker exited with code " + code;
            LOG.errorf("Kafka: %s; starting it again (log: %s)", lastFailure, b.logFile());
            restarter = Thread.ofPlatform().name("moeflow-broker-restart").daemon().start(this::restart);
        }
    }

    private void restart() {
        Duration pause = firstPause;
        while (true) {
            synchronized (lock) {
                if (state == State.STOPPED) return;
                if (failedInARow >= maxAttempts) {
                    state = State.FAILED;
                    LOG.errorf("Kafka: the embedded broker could not be started again after %d attempts (%s): giving up;"
                            + " liveness is DOWN", maxAttempts, lastFailure);
                    return;
                }
                failedInARow++;
            }
            try {
                Thread.sleep(pause.toMillis());
            } catch (InterruptedException e) {
                return; // stopping
            }
            if (state == State.STOPPED) return;
            long start = System.nanoTime();
            try {
                Broker b = starter.get();
                synchronized (lock) {
                    if (state == State.STOPPED) {
                        b.close();
                        return;
                    }
                    restarts++;
                }
                LOG.infof("Kafka: embedded broker started again at %s in %d ms (restart %d)", b.bootstrapServers(),
                        (System.nanoTime() - start) / 1_000_000, restarts);
                watch(b);
                return;
            } catch (RuntimeException e) {
                lastFailure = e.getMessage();
                LOG.warnf("Kafka: starting the embedded broker again failed (attempt %d of %d): %s", failedInARow, maxAttempts, e.getMessage());
            }
            pause = pause.multipliedBy(2).compareTo(maxPause) > 0 ? maxPause : pause.multipliedBy(2);
        }
    }

    public State state() {
        return state;
    }

    /** Times the broker was started again. */
    public int restarts() {
        return restarts;
    }

    /** Why the broker last went down, or null. */
    public String lastFailure() {
        return lastFailure;
    }

    /** Stops supervising, then the broker. */
    @Override
    public void close() {
        Thread r;
        Broker b;
        synchronized (lock) {
            state = State.STOPPED;
            r = restarter;
            b = broker;
        }
        if (r != null) {
            r.interrupt();
            try {
                r.join(30_000); // a start in progress ends (or times out) on its own
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }
        synchronized (lock) {
            b = broker;
        }
        if (b != null) b.close();
    }
}
