package io.moeflow.scheduler;

import io.smallrye.mutiny.Multi;

/**
 * What the service (HTTP, SSE, Kafka) calls: submit a tokenized request, receive its token events, cancel.
 * Implemented by the continuous-batching scheduler.
 */
public interface GenerationEngine {
    /**
     * Queues a request. Events are buffered until subscribed. Throws {@link QueueFullException} when the
     * waiting queue is at its configured limit, IllegalArgumentException for a request the model cannot serve
     * (a prompt longer than the context, a token id outside the vocabulary).
     */
    Handle submit(GenerationRequest request);

    /** Requests waiting or running. */
    int active();

    /** True when another request would be refused with QueueFullException. */
    boolean full();

    interface Handle {
        String id();

        Multi<TokenEvent> events();

        /** Ends the generation at the next step boundary with finish reason CANCELLED; idempotent. */
        void cancel();
    }

    final class QueueFullException extends RuntimeException {
        public QueueFullException(String message) {
            super(message);
        }
    }
}
