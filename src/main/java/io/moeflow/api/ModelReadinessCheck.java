package io.moeflow.api;

import jakarta.enterprise.context.ApplicationScoped;
import jakarta.inject.Inject;
import org.eclipse.microprofile.health.HealthCheck;
import org.eclipse.microprofile.health.HealthCheckResponse;
import org.eclipse.microprofile.health.Readiness;

/** Readiness is down until the model is loaded (Kafka's own readiness checks come with the messaging extension). */
@Readiness
@ApplicationScoped
public class ModelReadinessCheck implements HealthCheck {
    @Inject
    ModelRuntime runtime;

    @Override
    public HealthCheckResponse call() {
        var builder = HealthCheckResponse.named("model").status(runtime.state() == ModelRuntime.State.READY)
                .withData("state", runtime.state().name().toLowerCase(java.util.Locale.ROOT));
        runtime.failure().ifPresent(f -> builder.withData("failure", f));
        return builder.build();
    }
}
