package io.moeflow.api.kafka;

import io.moeflow.api.MoeflowConfig;
import jakarta.enterprise.context.ApplicationScoped;
import java.nio.file.Path;

/** Starts the embedded broker's JVM ({@link EmbeddedKafkaBroker}); a bean so that tests can stand in a slow start. */
@ApplicationScoped
public class EmbeddedBrokerLauncher {
    /** Starts the broker and returns once it answers; throws when it cannot be started. */
    public BrokerSupervisor.Broker start(MoeflowConfig.Kafka kafka, Path dataDir) {
        return EmbeddedKafkaBroker.start(kafka.port(), kafka.controllerPort(), dataDir, kafka.heap(), kafka.startTimeout());
    }
}
