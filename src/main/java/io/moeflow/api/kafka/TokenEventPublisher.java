package io.moeflow.api.kafka;

import com.fasterxml.jackson.databind.node.ObjectNode;
import io.moeflow.scheduler.TokenEvent;
import io.smallrye.reactive.messaging.OutgoingMessageMetadata;
import io.smallrye.reactive.messaging.kafka.api.OutgoingKafkaRecordMetadata;
import jakarta.enterprise.context.ApplicationScoped;
import jakarta.inject.Inject;
import java.time.Duration;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicInteger;
import org.apache.kafka.clients.producer.RecordMetadata;
import org.eclipse.microprofile.reactive.messaging.Channel;
import org.eclipse.microprofile.reactive.messaging.Emitter;
import org.eclipse.microprofile.reactive.messaging.Message;
import org.eclipse.microprofile.reactive.messaging.OnOverflow;
import org.jboss.logging.Logger;

/**
 * Writes token events to the tokens topic, keyed by request id so that one request's events stay in order in one
 * partition (the producer is idempotent, see application.properties), with the headers of {@link TokenOrigin}.
 * Each written event is recorded in the {@link TokenHistory} as soon as Kafka acknowledges it.
 */
@ApplicationScoped
public class TokenEventPublisher {
    private static final Logger LOG = Logger.getLogger(TokenEventPublisher.class);

    /**
     * Bounded: the engine produces at most one event per sequence per step, so the buffer only fills when Kafka is
     * unreachable for long; sends then fail instead of growing the heap.
     */
    @Inject
    @Channel("tokens")
    @OnOverflow(value = OnOverflow.Strategy.BUFFER, bufferSize = 65536)
    Emitter<String> emitter;

    @Inject
    TokenEventTail tail;

    /** Events sent and not yet acknowledged or failed, per request id (absent: none). */
    private final ConcurrentHashMap<String, AtomicInteger> outstanding = new ConcurrentHashMap<>();
    private final RateLimitedLog failures = new RateLimitedLog(LOG, Logger.Level.WARN, Duration.ofSeconds(30));

    /**
     * Sends one event; the stage completes when Kafka has acknowledged it. {@code fullText} (the whole generated
     * text) is written on a last event only.
     */
    public CompletionStage<Void> publish(TokenEvent event, TokenOrigin origin, String fullText) {
        return send(event, TokenEventJson.toString(event, event.last() ? fullText : null), origin);
    }

    /** Like {@link #publish(TokenEvent, TokenOrigin, String)}, a last event with the parsed reply's {@code replyFields}. */
    public CompletionStage<Void> publish(TokenEvent event, TokenOrigin origin, String fullText, ObjectNode replyFields) {
        if (!event.last()) return publish(event, origin, fullText);
        return send(event, TokenEventJson.toString(event, fullText, replyFields), origin);
    }

    /** Sends an event read back from the topic again, its value unchanged (a replay). */
    public CompletionStage<Void> republish(TokenEventTail.StoredEvent stored, TokenOrigin origin) {
        return send(stored.event(), stored.json(), origin);
    }

    private CompletionStage<Void> send(TokenEvent event, String json, TokenOrigin origin) {
        CompletableFuture<Void> written = new CompletableFuture<>();
        String id = event.requestId();
        OutgoingMessageMetadata<RecordMetadata> result = new OutgoingMessageMetadata<>();
        AtomicInteger count = outstanding.compute(id, (k, n) -> n == null ? new AtomicInteger(1) : incremented(n));
        Message<String> message = Message.of(json)
                .addMetadata(OutgoingKafkaRecordMetadata.<String>builder().withKey(id).withHeaders(origin.headers(id)).build())
                .addMetadata(result)
                .withAck(() -> {
                    RecordMetadata at = result.getResult();
                    if (at != null) {
                        tail.history().observe(id, at.partition(), at.offset(), event.index(), event.last(), origin.promptRecord());
                    }
                    done(id, count);
                    written.complete(null);
                    return CompletableFuture.completedFuture(null);
                })
                .withNack(failure -> {
                    done(id, count);
                    failures.log("token events not written to Kafka: " + failure.getMessage());
                    written.completeExceptionally(failure);
                    return CompletableFuture.completedFuture(null);
                });
        try {
            emitter.send(message);
        } catch (RuntimeException e) {
            done(id, count);
            failures.log("token events not written to Kafka: " + e.getMessage());
            written.completeExceptionally(e);
        }
        return written;
    }

    private static AtomicInteger incremented(AtomicInteger n) {
        n.incrementAndGet();
        return n;
    }

    private void done(String id, AtomicInteger count) {
        // The counter in the map is the one this event counted in: it is removed only once every sender is done.
        outstanding.computeIfPresent(id, (k, n) -> n.decrementAndGet() == 0 ? null : n);
        synchronized (outstanding) {
            outstanding.notifyAll();
        }
    }

    /** Waits until every event of {@code id} sent so far is acknowledged or failed; false when that took too long. */
    public boolean awaitSent(String id, Duration timeout) throws InterruptedException {
        long deadline = System.nanoTime() + timeout.toNanos();
        synchronized (outstanding) {
            while (outstanding.containsKey(id)) {
                long left = deadline - System.nanoTime();
                if (left <= 0) return false;
                outstanding.wait(Math.max(1, left / 1_000_000));
            }
        }
        return true;
    }
}
