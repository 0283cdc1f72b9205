package io.moeflow.api;

import io.moeflow.kernels.Kernels;
import io.quarkus.runtime.StartupEvent;
import jakarta.enterprise.context.ApplicationScoped;
import jakarta.enterprise.event.Observes;
import org.eclipse.microprofile.health.HealthCheck;
import org.eclipse.microprofile.health.HealthCheckResponse;
import org.eclipse.microprofile.health.Liveness;
import org.jboss.logging.Logger;

/**
 * Which kernels this process computes with: the Vector API ones, or the scalar ones (forced by
 * {@code -Dmoeflow.kernels.scalar=true}, or chosen because the Vector API does not work here, as in a native
 * image without vector support). Logged at start-up and shown in /q/health/live, so an operator can tell.
 */
@Liveness
@ApplicationScoped
public class KernelPathCheck implements HealthCheck {
    private static final Logger LOG = Logger.getLogger(KernelPathCheck.class);

    void onStart(@Observes StartupEvent event) {
        LOG.infof("kernels: %s%s", Kernels.describe(),
                Boolean.getBoolean("moeflow.kernels.scalar") ? " (forced by -Dmoeflow.kernels.scalar=true)" : "");
    }

    @Override
    public HealthCheckResponse call() {
        return HealthCheckResponse.named("kernels").up()
                .withData("path", Kernels.vectorEnabled() ? "vector" : "scalar")
                .withData("description", Kernels.describe())
                .build();
    }
}
