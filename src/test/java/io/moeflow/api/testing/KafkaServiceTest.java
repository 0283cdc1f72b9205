package io.moeflow.api.testing;

import io.moeflow.api.MoeflowConfig;
import jakarta.inject.Inject;
import org.eclipse.microprofile.config.inject.ConfigProperty;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;

/** What the @QuarkusTests of the Kafka interface share: the broker, plain clients, the topic names. */
public abstract class KafkaServiceTest {
    @ConfigProperty(name = "kafka.bootstrap.servers")
    protected String bootstrap;
    @ConfigProperty(name = "quarkus.http.test-port")
    protected int port;
    @Inject
    protected MoeflowConfig config;

    protected KafkaClient kafka;

    @BeforeEach
    void connect() throws InterruptedException {
        Ready.await();
        kafka = new KafkaClient(bootstrap);
    }

    @AfterEach
    void disconnect() {
        kafka.close();
    }

    protected String prompts() {
        return config.kafka().topics().prompts();
    }

    protected String tokens() {
        return config.kafka().topics().tokens();
    }
}
