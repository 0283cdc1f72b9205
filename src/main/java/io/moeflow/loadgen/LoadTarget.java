package io.moeflow.loadgen;

/** One way into the service (HTTP, Kafka); {@link #send} may be called from many threads at once. */
public interface LoadTarget extends AutoCloseable {
    /** "http" or "kafka": the name in reports. */
    String via();

    /**
     * Sends one request and blocks until its last token (or an error) arrives. Failures are returned as a trace
     * with an error, not thrown, so that one bad request does not end the run.
     */
    RequestTrace send(String id, RequestSpec spec) throws InterruptedException;

    @Override
    void close();
}
