package io.moeflow.api.kafka;

import java.time.Duration;
import org.jboss.logging.Logger;

/**
 * One kind of log line that can repeat many times a second while Kafka is unreachable (a failed write, a lost
 * connection): written at most once per interval, with the count of the ones held back since the last. Thread-safe.
 */
final class RateLimitedLog {
    private final Logger log;
    private final Logger.Level level;
    private final long intervalNanos;
    private long lastNanos;
    private boolean logged;
    private long suppressed;

    RateLimitedLog(Logger log, Logger.Level level, Duration interval) {
        this.log = log;
        this.level = level;
        this.intervalNanos = interval.toNanos();
    }

    /** Logs {@code message} unless one was logged within the interval; then only counts it. */
    void log(String message) {
        long held;
        synchronized (this) {
            long now = System.nanoTime();
            if (logged && now - lastNanos < intervalNanos) {
                suppressed++;
                return;
            }
            held = suppressed;
            suppressed = 0;
            lastNanos = now;
            logged = true;
        }
        log.log(level, held == 0 ? message : message + " (" + held + " more like it in the last "
                + Duration.ofNanos(intervalNanos).toSeconds() + " s not logged)");
    }

    /** Forgets the interval, so that the next line is logged at once (after the condition cleared). */
    synchronized void reset() {
        logged = false;
        suppressed = 0;
    }
}
