package io.moeflow.api;

import io.moeflow.api.kafka.KafkaHealth;
import io.moeflow.api.kafka.PromptConsumer;
import io.quarkus.runtime.ShutdownEvent;
import jakarta.annotation.Priority;
import jakarta.enterprise.context.ApplicationScoped;
import jakarta.enterprise.event.Observes;
import jakarta.inject.Inject;
import jakarta.interceptor.Interceptor;
import java.time.Duration;
import java.util.Set;
import org.eclipse.microprofile.health.HealthCheck;
import org.eclipse.microprofile.health.HealthCheckResponse;
import org.eclipse.microprofile.health.Readiness;
import org.jboss.logging.Logger;

/**
 * Graceful shutdown (SIGTERM, Kubernetes pod deletion): stops taking prompts and requests, lets the running
 * generations finish within {@code moeflow.shutdown.grace}, then cancels the rest. Finished Kafka prompts are
 * acknowledged as usual and committed when the connector closes; cancelled ones are never acknowledged, so the
 * consumer group redelivers them. Runs before every other shutdown observer: the model runtime closes the engine
 * after it, and the Kafka connector commits and closes after all observers.
 */
@ApplicationScoped
public class GracefulShutdown {
    private static final Logger LOG = Logger.getLogger(GracefulShutdown.class);

    /** What a drain did. */
    public record Drained(long finishedInGrace, Set<String> cancelledPrompts, int stillRunning) {}

    @Inject
    GenerationService service;
    @Inject
    PromptConsumer prompts;
    @Inject
    MoeflowConfig config;
    @Inject
    KafkaHealth kafka;

    void onStop(@Observes @Priority(Interceptor.Priority.PLATFORM_BEFORE) ShutdownEvent event) {
        drain(config.shutdown().grace());
    }

    /** Refuses new work, waits up to {@code grace} for the running generations, cancels the Kafka prompts left. */
    public Drained drain(Duration grace) {
        service.beginDrain();
        long completedBefore = service.completed();
        LOG.infof("shutdown: taking no new prompts or requests; waiting up to %s for %d running generations",
                grace, service.running());
        long deadline = System.nanoTime() + grace.toNanos();
        try {
            // Kafka prompts cannot finish while Kafka does not answer (their last event waits for it): not waited for.
            while (service.running() - (kafka.reachable() ? 0 : prompts.inFlight()) > 0 && System.nanoTime() < deadline) {
                Thread.sleep(20);
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        long finished = service.completed() - completedBefore;
        Set<String> cancelled = prompts.cancelInFlight();
        // HTTP generations still running end with finish_reason "cancelled" when the engine closes next.
        int stillRunning = Math.max(0, service.running() - cancelled.size());
        if (cancelled.isEmpty() && stillRunning == 0) {
            LOG.infof("shutdown: %d generations finished within the grace period, none left", finished);
        } else {
            LOG.warnf("shutdown: %d generations finished, %d Kafka prompts cancelled and left uncommitted for "
                    + "redelivery %s, %d HTTP requests cancelled", finished, cancelled.size(), cancelled, stillRunning);
        }
        return new Drained(finished, cancelled, stillRunning);
    }

    /** Readiness goes down as soon as shutdown begins, so no new HTTP traffic is routed here. */
    @Readiness
    @ApplicationScoped
    static class ReadinessCheck implements HealthCheck {
        @Inject
        GenerationService service;

        @Override
        public HealthCheckResponse call() {
            return HealthCheckResponse.named("shutdown").status(!service.draining()).build();
        }
    }
}
