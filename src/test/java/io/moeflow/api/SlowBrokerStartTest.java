package io.moeflow.api;

import static io.restassured.RestAssured.given;
import static org.hamcrest.Matchers.containsString;
import static org.hamcrest.Matchers.equalTo;
import static org.hamcrest.Matchers.notNullValue;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.moeflow.api.kafka.TopicDefinitions;
import io.moeflow.api.testing.KafkaClient;
import io.moeflow.api.testing.Ready;
import io.moeflow.api.testing.SlowBrokerLauncher;
import io.moeflow.scheduler.TokenEvent;
import io.quarkus.test.junit.QuarkusTest;
import io.quarkus.test.junit.QuarkusTestProfile;
import io.quarkus.test.junit.TestProfile;
import io.restassured.http.ContentType;
import io.restassured.path.json.JsonPath;
import jakarta.inject.Inject;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.ServerSocket;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.UUID;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AdminClientConfig;
import org.eclipse.microprofile.config.inject.ConfigProperty;
import org.junit.jupiter.api.Test;

/**
 * Start-up with an embedded broker that takes long to answer ({@link SlowBrokerLauncher} holds its start until the
 * test releases it): the HTTP port is open meanwhile, {@code /health} answers 503 naming the broker (and readiness is
 * down) while HTTP completions already work, the prompts consumer does not take a prompt sent meanwhile, and once the
 * broker is up {@code /health} answers 200 and that prompt is answered: nothing is lost.
 */
@QuarkusTest
@TestProfile(SlowBrokerStartTest.Profile.class)
class SlowBrokerStartTest {
    /** The embedded path (on free ports, so the quick port check passes), its start held. */
    public static class Profile implements QuarkusTestProfile {
        @Override
        public Map<String, String> getConfigOverrides() {
            SlowBrokerLauncher.hold();
            return Map.of("moeflow.kafka.embedded", "true",
                    "moeflow.kafka.port", Integer.toString(freePort()),
                    "moeflow.kafka.controller-port", Integer.toString(freePort()),
                    "quarkus.http.test-port", "0");
        }

        private static int freePort() {
            try (ServerSocket s = new ServerSocket(0)) {
                return s.getLocalPort();
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
        }
    }

    @ConfigProperty(name = "kafka.bootstrap.servers")
    String bootstrap;
    @Inject
    MoeflowConfig config;

    @Test
    void healthIs503UntilTheBrokerIsUpAndAPromptSentMeanwhileIsAnsweredAfter() throws Exception {
        try {
            // the model loads in the background either way; wait for it, so only the broker is left starting
            long deadline = System.nanoTime() + KafkaClient.WAIT.toNanos();
            JsonPath health;
            do {
                health = given().get("/health").then().statusCode(503).header("Retry-After", notNullValue())
                        .body("error.type", equalTo("unavailable_error")).extract().jsonPath();
                if (System.nanoTime() > deadline) throw new AssertionError("the model did not load: " + health.prettify());
                Thread.sleep(50);
            } while (!"ready".equals(health.getString("components.model")));
            assertEquals("starting the embedded Kafka broker", health.getString("components.kafka"));
            assertTrue(health.getString("error.message").contains("starting the embedded Kafka broker"), health.prettify());
            given().get("/q/health/ready").then().statusCode(503);

            // HTTP needs no Kafka: completions are answered while the broker starts
            given().contentType(ContentType.JSON).body("{\"prompt\":\"Once upon a time\",\"max_tokens\":4,\"temperature\":0}")
                    .when().post("/v1/completions").then().statusCode(200).body("usage.completion_tokens", equalTo(4));

            String id = "early-" + UUID.randomUUID();
            try (KafkaClient kafka = new KafkaClient(bootstrap)) {
                // the topics as a broker started before would hold them (a kept data directory)
                try (Admin admin = Admin.create(Map.of(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap))) {
                    TopicDefinitions.apply(admin, TopicDefinitions.load(config.kafka().topics()), Duration.ofSeconds(30));
                }
                kafka.produce(config.kafka().topics().prompts(), id,
                        "{\"id\":\"" + id + "\",\"prompt\":\"Once upon a time\",\"max_tokens\":5,\"temperature\":0}");
                Thread.sleep(1500);
                // the consumer is not even subscribed yet: nothing answered the prompt
                assertEquals(0, kafka.countNow(config.kafka().topics().tokens(), id));
                given().get("/health").then().statusCode(503).body("components.kafka", containsString("embedded Kafka broker"));

                SlowBrokerLauncher.release();
                Ready.await();
                given().get("/health").then().statusCode(200).body("status", equalTo("ok"));

                List<TokenEvent> events = kafka.tokenEvents(config.kafka().topics().tokens(), Set.of(id)).get(id);
                assertNotNull(events);
                TokenEvent last = events.getLast();
                assertTrue(last.last(), "the prompt sent before the broker was up is answered: " + events);
                assertEquals(5, last.usage().completionTokens());
            }
            long readyBy = System.nanoTime() + KafkaClient.WAIT.toNanos();
            while (given().get("/q/health/ready").statusCode() != 200 && System.nanoTime() < readyBy) Thread.sleep(100);
            given().get("/q/health/ready").then().statusCode(200);
        } finally {
            SlowBrokerLauncher.release();
        }
    }
}
