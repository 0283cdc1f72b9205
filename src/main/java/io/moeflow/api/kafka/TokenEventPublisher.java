package io.moeflow.api.kafka;

import io.moeflow.scheduler.TokenEvent;
import io.smallrye.reactive.messaging.kafka.api.OutgoingKafkaRecordMetadata;
import jakarta.enterprise.context.ApplicationScoped;
import jakarta.inject.Inject;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;
import org.eclipse.microprofile.reactive.messaging.Channel;
import org.eclipse.microprofile.reactive.messaging.Emitter;
import org.eclipse.microprofile.reactive.messaging.Message;
import org.eclipse.microprofile.reactive.messaging.OnOverflow;

/**
 * Writes token events to the tokens topic, keyed by request id so that one request's events stay in order in one
 * partition (the producer is idempotent, see application.properties).
 */
@ApplicationScoped
public class TokenEventPublisher {
    /**
     * Bounded: the engine produces at most one event per sequence per step, so the buffer only fills when Kafka is
     * unreachable for long; sends then fail instead of growing the heap.
     */
    @Inject
    @Channel("tokens")
    @OnOverflow(value = OnOverflow.Strategy.BUFFER, bufferSize = 65536)
    Emitter<String> emitter;

    /** Sends one event; the stage completes when Kafka has acknowledged it. */
    public CompletionStage<Void> publish(TokenEvent event) {
        CompletableFuture<Void> written = new CompletableFuture<>();
        Message<String> message = Message.of(TokenEventJson.toString(event))
                .addMetadata(OutgoingKafkaRecordMetadata.<String>builder().withKey(event.requestId()).build())
                .withAck(() -> {
                    written.complete(null);
                    return CompletableFuture.completedFuture(null);
                })
                .withNack(failure -> {
                    written.completeExceptionally(failure);
                    return CompletableFuture.completedFuture(null);
                });
        try {
            emitter.send(message);
        } catch (RuntimeException e) {
            written.completeExceptionally(e);
        }
        return written;
    }
}
