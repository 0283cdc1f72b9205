package io.moeflow.api;

import io.moeflow.kernels.Kernels;
import io.quarkus.runtime.StartupEvent;
import jakarta.annotation.Priority;
import jakarta.enterprise.context.ApplicationScoped;
import jakarta.enterprise.event.Observes;
import jakarta.inject.Inject;
import org.eclipse.microprofile.health.HealthCheck;
import org.eclipse.microprofile.health.HealthCheckResponse;
import org.eclipse.microprofile.health.Liveness;
import org.jboss.logging.Logger;

/**
 * Which kernels this process computes with: the Vector API ones, or the scalar ones (forced by
 * {@code moeflow.kernels.scalar=true}, or chosen because the Vector API does not work here, as in a native
 * image without vector support). Hands the configured setting to {@link Kernels#select} before the model loads
 * (this observer runs first), logs the path at start-up and shows it in /q/health/live, so an operator can tell.
 */
@Liveness
@ApplicationScoped
public class KernelPathCheck implements HealthCheck {
    private static final Logger LOG = Logger.getLogger(KernelPathCheck.class);

    @Inject
    MoeflowConfig config;

    void onStart(@Observes @Priority(1) StartupEvent event) {
        Kernels.select(config.kernels().scalar());
        LOG.infof("kernels: %s%s", Kernels.describe(), Kernels.forcedScalar() ? " (forced by " + Kernels.SCALAR_PROPERTY + "=true)" : "");
    }

    @Override
    public HealthCheckResponse call() {
        return HealthCheckResponse.named("kernels").up()
                .withData("path", Kernels.vectorEnabled() ? "vector" : "scalar")
                .withData("description", Kernels.describe())
                .build();
    }
}
