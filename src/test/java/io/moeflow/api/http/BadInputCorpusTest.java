package io.moeflow.api.http;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.moeflow.api.testing.EdgeProfile;
import io.moeflow.api.testing.LogCapture;
import io.quarkus.test.junit.QuarkusTest;
import io.quarkus.test.junit.TestProfile;
import jakarta.inject.Inject;
import java.net.URI;
import java.util.logging.Level;
import org.eclipse.microprofile.config.inject.ConfigProperty;
import org.junit.jupiter.api.Test;

/**
 * The bad-input corpus against the service: every case must be a clear error, none may crash it, and a well-formed
 * request sent meanwhile must get its exact answer every time. Nothing the corpus sends may log a warning or error.
 */
@QuarkusTest
@TestProfile(EdgeProfile.class)
class BadInputCorpusTest {
    @ConfigProperty(name = "quarkus.http.test-port")
    int port;
    @Inject
    VertxServerHooks hooks;

    @Test
    void everyBadInputGetsAClearErrorAndHarmsNoOtherRequest() throws Exception {
        long deadline = System.nanoTime() + 90_000_000_000L;
        while (io.restassured.RestAssured.given().get("/health").statusCode() != 200 && System.nanoTime() < deadline) Thread.sleep(50);
        assertTrue(hooks.awaitInstalled(30_000), "the Vert.x server hooks are not installed");
        BadInputCorpus.Report report;
        try (LogCapture log = LogCapture.start()) {
            report = new BadInputCorpus(URI.create("http://localhost:" + port), EdgeProfile.API_KEY,
                    EdgeProfile.HEADER_TIMEOUT_MS, EdgeProfile.BODY_TIMEOUT_MS).run();
            System.out.println(report.table());
            assertEquals(java.util.List.of(), log.atLeast(Level.WARNING).stream()
                    .filter(e -> e.logger() != null && e.logger().startsWith("io.")).toList(), "logged while the corpus ran");
        }
        assertTrue(report.results().size() >= 70, "the corpus has " + report.results().size() + " cases");
        assertTrue(report.concurrentRequests() >= 2, "the well-formed request ran " + report.concurrentRequests() + " times");
        assertEquals(0, report.harmed(), report.table());
        assertEquals(report.results().size(), report.counts().get(BadInputCorpus.Outcome.CLEAR), report.table());
    }
}
