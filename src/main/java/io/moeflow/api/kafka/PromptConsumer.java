package io.moeflow.api.kafka;

import io.moeflow.api.ClientText;
import io.moeflow.api.GenerationService;
import io.moeflow.api.InvalidRequestException;
import io.moeflow.api.ModelRuntime;
import io.moeflow.api.MoeflowConfig;
import io.moeflow.api.PromptSpec;
import io.moeflow.api.RequestParser;
import io.moeflow.api.ServiceMetrics;
import io.moeflow.api.ServiceUnavailableException;
import io.moeflow.scheduler.GenerationRequest;
import io.smallrye.common.annotation.Blocking;
import jakarta.annotation.PostConstruct;
import jakarta.enterprise.context.ApplicationScoped;
import jakarta.inject.Inject;
import java.util.Set;
import java.util.TreeSet;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.Flow;
import java.util.concurrent.atomic.AtomicLong;
import org.eclipse.microprofile.reactive.messaging.Acknowledgment;
import org.eclipse.microprofile.reactive.messaging.Incoming;
import org.eclipse.microprofile.reactive.messaging.Message;
import org.jboss.logging.Logger;

/**
 * Consumes moeflow.prompts. Records are taken one at a time and handed to the engine; while the engine's queue is
 * full this method waits, the connector's bounded buffer fills and it pauses the Kafka consumer (backpressure).
 * A record is acknowledged only once its last token event is written, and the throttled commit strategy commits
 * an offset only when every record before it is acknowledged, so a crash redelivers unfinished prompts.
 */
@ApplicationScoped
public class PromptConsumer {
    private static final Logger LOG = Logger.getLogger(PromptConsumer.class);

    @Inject
    GenerationService service;
    @Inject
    ModelRuntime runtime;
    @Inject
    MoeflowConfig config;
    @Inject
    TokenEventPublisher publisher;
    @Inject
    ServiceMetrics metrics;

    private RecentIds seen;
    private RequestParser parser;
    private final AtomicLong duplicates = new AtomicLong();
    private final AtomicLong deadLettered = new AtomicLong();
    private final AtomicLong rejected = new AtomicLong();
    /**
     * Prompts taken here whose last event is not written yet, by request id; completed (and removed) once it is.
     * Failed and cancelled ones stay, never completed: they are redelivered after a restart.
     */
    private final ConcurrentHashMap<String, CompletableFuture<Void>> unfinished = new ConcurrentHashMap<>();
    /** Subscriptions of the prompts being generated, by request id: shutdown cancels those that do not finish. */
    private final ConcurrentHashMap<String, Flow.Subscription> inFlight = new ConcurrentHashMap<>();

    @PostConstruct
    void init() {
        seen = new RecentIds(config.kafka().dedupCapacity());
        parser = service.parser();
    }

    @Incoming("prompts")
    @Blocking
    @Acknowledgment(Acknowledgment.Strategy.MANUAL)
    public CompletionStage<Void> consume(Message<byte[]> message) throws InterruptedException {
        if (service.draining()) return unacknowledged();
        PromptRecord record;
        try {
            record = PromptRecord.parse(message.getPayload());
        } catch (UnparseableRecordException e) {
            deadLettered.incrementAndGet();
            metrics.rejected(ServiceMetrics.Api.KAFKA);
            LOG.warnf("prompt record sent to the dead letter topic: %s", ClientText.forLog(e.getMessage()));
            return message.nack(e);
        }
        if (!seen.add(record.id())) {
            duplicates.incrementAndGet();
            CompletableFuture<Void> original = unfinished.get(record.id());
            if (original == null) {
                LOG.infof("prompt %s is already finished here; not generated again", ClientText.forLog(record.id()));
                return message.ack();
            }
            // In flight here, redelivered by a rebalance: acknowledging the copy now would let its offset be
            // committed before the original's last event is written, and a crash then would lose the prompt.
            LOG.infof("prompt %s is in flight here; not generated again, acknowledged when the original is", ClientText.forLog(record.id()));
            original.thenRun(message::ack);
            return CompletableFuture.completedFuture(null);
        }
        // Consumption is ordered (one record at a time), so a copy of this record is read only after this put.
        CompletableFuture<Void> written = new CompletableFuture<>();
        unfinished.put(record.id(), written);
        if (!awaitModel()) return unacknowledged();
        GenerationService.Generation generation;
        try {
            if (record.sizeBytes() > config.limits().maxRequestBytes()) {
                throw new InvalidRequestException(null, "record is " + record.sizeBytes()
                        + " bytes, more than the limit of " + config.limits().maxRequestBytes());
            }
            PromptSpec spec = parser.promptOrMessages(record.body());
            GenerationRequest request = service.prepare(record.id(), spec, record.defaultSeed());
            generation = service.startWhenFree(request, GenerationService.Publish.CONFIRM_LAST);
        } catch (ServiceUnavailableException e) {
            if (!service.draining()) throw e;
            return unacknowledged();
        } catch (InvalidRequestException | IllegalArgumentException e) {
            rejected.incrementAndGet();
            metrics.rejected(ServiceMetrics.Api.KAFKA);
            publisher.publish(GenerationService.errorEvent(record.id(), 0, 0, "invalid_request", e.getMessage()))
                    .whenComplete((ok, failure) -> ackOnceWritten(message, record.id(), written, failure));
            return CompletableFuture.completedFuture(null);
        }
        String id = record.id();
        generation.events()
                .onTermination().invoke(() -> inFlight.remove(id))
                .onSubscription().invoke(subscription -> inFlight.put(id, subscription))
                .subscribe().with(
                        event -> {},
                        failure -> ackOnceWritten(message, id, written, failure),
                        () -> ackOnceWritten(message, id, written, null));
        return CompletableFuture.completedFuture(null);
    }

    private void ackOnceWritten(Message<byte[]> message, String id, CompletableFuture<Void> written, Throwable failure) {
        if (failure == null) {
            unfinished.remove(id, written);
            message.ack();
            written.complete(null);
        } else {
            // Stays in unfinished, never completed: copies read later are not acknowledged either.
            // Left unacknowledged: its offset is not committed, so the prompt is redelivered after a restart.
            LOG.errorf("last event of prompt %s not written to Kafka (%s); its offset stays uncommitted", ClientText.forLog(id), failure.getMessage());
        }
    }

    /** Waits for the model; false when shutdown began meanwhile. */
    private boolean awaitModel() throws InterruptedException {
        while (runtime.state() != ModelRuntime.State.READY) {
            if (service.draining()) return false;
            Thread.sleep(100);
        }
        return true;
    }

    /**
     * A record taken during shutdown: neither acknowledged nor nacked (a nack would send it to the dead letter
     * topic), so its offset stays uncommitted and the group redelivers it.
     */
    private static CompletionStage<Void> unacknowledged() {
        return CompletableFuture.completedFuture(null);
    }

    /** Prompts being generated now. */
    public int inFlight() {
        return inFlight.size();
    }

    /**
     * Shutdown: stops the generations of the prompts still running without acknowledging them (their subscriber
     * sees neither completion nor failure), so they are redelivered. Returns their request ids.
     */
    public Set<String> cancelInFlight() {
        Set<String> cancelled = new TreeSet<>();
        for (var entry : inFlight.entrySet()) {
            if (inFlight.remove(entry.getKey(), entry.getValue())) {
                cancelled.add(entry.getKey());
                entry.getValue().cancel();
            }
        }
        return cancelled;
    }

    /** Records skipped because their id was already finished or in flight in this process. */
    public long duplicates() {
        return duplicates.get();
    }

    public long deadLettered() {
        return deadLettered.get();
    }

    /** Records answered with an error event. */
    public long rejected() {
        return rejected.get();
    }
}
