package io.moeflow.api.kafka;

import io.quarkus.runtime.ShutdownEvent;
import io.quarkus.runtime.StartupEvent;
import jakarta.enterprise.context.ApplicationScoped;
import jakarta.enterprise.event.Observes;
import jakarta.inject.Inject;
import java.time.Duration;
import java.time.Instant;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AdminClientConfig;
import org.apache.kafka.clients.admin.DescribeClusterOptions;
import org.eclipse.microprofile.config.inject.ConfigProperty;
import org.eclipse.microprofile.health.HealthCheck;
import org.eclipse.microprofile.health.HealthCheckResponse;
import org.eclipse.microprofile.health.HealthCheckResponseBuilder;
import org.eclipse.microprofile.health.Liveness;
import org.eclipse.microprofile.health.Readiness;
import org.jboss.logging.Logger;

/**
 * Whether the Kafka cluster answers, asked every {@value #PROBE_SECONDS} s (a metadata request), and the state of
 * the embedded broker's supervision. Readiness ("kafka-broker") is down while the cluster does not answer or the
 * embedded broker is being started again; liveness only when the embedded broker cannot be started again (see
 * {@link BrokerSupervisor}); an unreachable external cluster is not this process's fault, so it is not restarted
 * for it. A lost and a recovered cluster are logged once each, a lasting loss once a minute.
 */
@ApplicationScoped
public class KafkaHealth {
    private static final Logger LOG = Logger.getLogger(KafkaHealth.class);
    static final int PROBE_SECONDS = 2;

    @ConfigProperty(name = "kafka.bootstrap.servers")
    String bootstrapServers;
    @Inject
    KafkaSetup setup;
    private volatile boolean reachable = true;
    private volatile Instant unreachableSince;
    private volatile String lastError;
    private volatile boolean stopping;
    private final RateLimitedLog stillLost = new RateLimitedLog(LOG, Logger.Level.WARN, Duration.ofSeconds(60));
    private Thread thread;

    void onStart(@Observes StartupEvent event) {
        thread = Thread.ofPlatform().name("moeflow-kafka-probe").daemon().start(this::probe);
    }

    void onStop(@Observes ShutdownEvent event) {
        stopping = true;
        if (thread != null) thread.interrupt();
    }

    /** True while the last probe got an answer. */
    public boolean reachable() {
        return reachable;
    }

    private void probe() {
        try (Admin admin = Admin.create(Map.of(
                AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrapServers,
                AdminClientConfig.CLIENT_ID_CONFIG, "moeflow-kafka-probe",
                AdminClientConfig.REQUEST_TIMEOUT_MS_CONFIG, 1500,
                AdminClientConfig.DEFAULT_API_TIMEOUT_MS_CONFIG, 1500,
                AdminClientConfig.RECONNECT_BACKOFF_MAX_MS_CONFIG, 1000))) {
            while (!stopping) {
                boolean ok;
                String error = null;
                try {
                    ok = !admin.describeCluster(new DescribeClusterOptions().timeoutMs(1500)).nodes()
                            .get(PROBE_SECONDS, TimeUnit.SECONDS).isEmpty();
                } catch (InterruptedException e) {
                    return;
                } catch (Exception e) {
                    ok = false;
                    error = e.getCause() != null ? e.getCause().getMessage() : e.toString();
                }
                changed(ok, error);
                Thread.sleep(PROBE_SECONDS * 1000L);
            }
        } catch (InterruptedException e) {
            // stopping
        } catch (RuntimeException e) {
            LOG.errorf(e, "Kafka: the reachability probe stopped");
        }
    }

    private void changed(boolean ok, String error) {
        if (setup.phase() == KafkaSetup.Phase.STARTING) {
            // the broker is still starting (or the topics being created): not a loss, /health and readiness say so
            reachable = ok;
            lastError = error;
            return;
        }
        // a loss is counted from the first failed probe after the setup (unreachableSince), not from the start
        if (ok && unreachableSince != null) {
            LOG.infof("Kafka: %s answers again (it was unreachable for %d s)", bootstrapServers,
                    Duration.between(unreachableSince, Instant.now()).toSeconds());
            stillLost.reset();
            unreachableSince = null;
        } else if (!ok && unreachableSince == null) {
            unreachableSince = Instant.now();
            // the first line of the rate-limited kind, so that "still" follows a minute later at the earliest
            stillLost.log("Kafka: " + bootstrapServers + " does not answer (" + error + "); clients keep reconnecting, readiness is DOWN meanwhile");
        } else if (!ok) {
            stillLost.log("Kafka: " + bootstrapServers + " still does not answer after "
                    + Duration.between(unreachableSince, Instant.now()).toSeconds() + " s (" + error + ")");
        }
        lastError = error;
        reachable = ok;
    }

    /** Not private: the checks call it through the bean's client proxy, which only forwards non-private methods. */
    HealthCheckResponseBuilder describe(HealthCheckResponseBuilder b) {
        b.withData("bootstrap_servers", bootstrapServers).withData("reachable", reachable).withData("setup", setup.describe());
        if (unreachableSince != null) b.withData("unreachable_since", unreachableSince.toString());
        if (lastError != null && !reachable) b.withData("error", lastError);
        KafkaSetup.embeddedBroker().ifPresent(s -> {
            b.withData("embedded", s.state().name().toLowerCase(java.util.Locale.ROOT)).withData("embedded_restarts", s.restarts());
            if (s.lastFailure() != null) b.withData("embedded_last_failure", s.lastFailure());
        });
        return b;
    }

    boolean ready() {
        return setup.phase() == KafkaSetup.Phase.READY && reachable && KafkaSetup.embeddedBroker().map(s -> s.state() == BrokerSupervisor.State.UP).orElse(true);
    }

    boolean alive() {
        return setup.phase() != KafkaSetup.Phase.FAILED && KafkaSetup.embeddedBroker().map(s -> s.state() != BrokerSupervisor.State.FAILED).orElse(true);
    }

    @Readiness
    @ApplicationScoped
    static class ReadinessCheck implements HealthCheck {
        @Inject
        KafkaHealth health;

        @Override
        public HealthCheckResponse call() {
            return health.describe(HealthCheckResponse.named("kafka-broker")).status(health.ready()).build();
        }
    }

    @Liveness
    @ApplicationScoped
    static class LivenessCheck implements HealthCheck {
        @Inject
        KafkaHealth health;

        @Override
        public HealthCheckResponse call() {
            return health.describe(HealthCheckResponse.named("kafka-broker")).status(health.alive()).build();
        }
    }
}
