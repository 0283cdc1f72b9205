package io.moeflow.api.kafka;

import io.quarkus.logging.LoggingFilter;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.logging.Filter;
import java.util.logging.Level;
import java.util.logging.LogRecord;

/**
 * The console's log filter ({@code quarkus.log.console.filter}): the Kafka clients write a warning per connection
 * attempt while a broker is unreachable (12,480 lines in 150 s with the five clients of a service), so a warning of
 * the Kafka clients and of the messaging connector is written at most once per {@value #INTERVAL_SECONDS} s per
 * logger and kind of message (its text with the digits taken out: node ids, ports and addresses vary). Errors,
 * other levels and every other logger pass; what the service itself reports about a lost broker is in
 * {@link KafkaHealth} and {@link BrokerSupervisor}.
 */
@LoggingFilter(name = "moeflow-kafka-chatter")
public final class KafkaChatterFilter implements Filter {
    static final int INTERVAL_SECONDS = 30;
    private static final int KINDS = 1024;

    private final Map<String, Long> lastWritten = new LinkedHashMap<>(64, 0.75f, true) {
        @Override
        protected boolean removeEldestEntry(Map.Entry<String, Long> eldest) {
            return size() > KINDS;
        }
    };

    @Override
    public boolean isLoggable(LogRecord record) {
        if (record.getLevel().intValue() != Level.WARNING.intValue()) return true; // JBoss WARN is the same level
        String logger = record.getLoggerName();
        if (logger == null || !(logger.startsWith("org.apache.kafka.") || logger.startsWith("kafka.")
                || logger.startsWith("io.smallrye.reactive.messaging.kafka"))) {
            return true;
        }
        String message = record.getMessage() == null ? "" : record.getMessage();
        String kind = logger + '|' + message.substring(0, Math.min(160, message.length())).replaceAll("-?[0-9]+", "#");
        return admit(kind, System.nanoTime());
    }

    synchronized boolean admit(String kind, long now) {
        Long last = lastWritten.get(kind);
        if (last != null && now - last < INTERVAL_SECONDS * 1_000_000_000L) return false;
        lastWritten.put(kind, now);
        return true;
    }
}
