package io.moeflow.api.testing;

import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.logging.Handler;
import java.util.logging.Level;
import java.util.logging.LogRecord;
import java.util.logging.Logger;
import java.util.logging.SimpleFormatter;
import org.jboss.logmanager.ExtLogRecord;

/**
 * The service's log records while a test runs (the tests share the service's JVM, whose logging is JBoss
 * LogManager behind java.util.logging): each as its logger, level and formatted message.
 */
public final class LogCapture extends Handler implements AutoCloseable {
    public record Entry(String logger, Level level, String message, Throwable thrown) {
        @Override
        public String toString() {
            return level + " [" + logger + "] " + message + (thrown == null ? "" : " (" + thrown + ")");
        }
    }

    private final List<Entry> entries = new CopyOnWriteArrayList<>();
    private final SimpleFormatter formatter = new SimpleFormatter();

    private LogCapture() {}

    public static LogCapture start() {
        LogCapture capture = new LogCapture();
        capture.setLevel(Level.ALL);
        Logger.getLogger("").addHandler(capture);
        return capture;
    }

    @Override
    public void publish(LogRecord record) {
        String message = record instanceof ExtLogRecord ext ? ext.getFormattedMessage() : formatter.formatMessage(record);
        entries.add(new Entry(record.getLoggerName(), record.getLevel(), message, record.getThrown()));
    }

    public List<Entry> entries() {
        return List.copyOf(entries);
    }

    public List<Entry> atLeast(Level level) {
        return entries.stream().filter(e -> e.level().intValue() >= level.intValue()).toList();
    }

    @Override
    public void flush() {}

    @Override
    public void close() {
        Logger.getLogger("").removeHandler(this);
    }
}
