package io.moeflow.deploy;

import static io.restassured.RestAssured.given;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.moeflow.api.testing.Ready;
import io.moeflow.kernels.Kernels;
import io.quarkus.test.junit.QuarkusTest;
import io.restassured.path.json.JsonPath;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import org.eclipse.microprofile.config.inject.ConfigProperty;
import org.junit.jupiter.api.Test;

/**
 * The health endpoints the deployment files probe answer on the running service, the images' health check script
 * works against it, and the service reports which kernels it computes with (the scalar ones when
 * -Dmoeflow.kernels.scalar=true, as in CI's scalar pass).
 */
@QuarkusTest
class DeployProbesTest {
    @ConfigProperty(name = "quarkus.http.test-port")
    int port;

    /** Every probe path of k8s/ (all overlays) and every HEALTHCHECK path of docker/. */
    static Set<String> probePaths() {
        Set<String> paths = new LinkedHashSet<>();
        for (String dir : List.of("k8s/base", "k8s/overlays/dev", "k8s/overlays/prod")) {
            for (Map<String, Object> r : Kustomize.render(dir)) {
                if (!"Deployment".equals(Repo.string(r, "kind")) || !"moeflow".equals(Repo.string(Repo.map(r, "metadata"), "name"))) continue;
                for (Object c : Repo.list(Repo.at(r, "spec", "template", "spec"), "containers")) {
                    for (String probe : List.of("startupProbe", "livenessProbe", "readinessProbe")) {
                        Object path = Repo.at(c, probe, "httpGet", "path");
                        if (path != null) paths.add(String.valueOf(path));
                    }
                }
            }
        }
        for (String file : List.of(DockerFilesTest.JVM, DockerFilesTest.NATIVE)) {
            paths.add(DockerFilesTest.healthcheckCommand(Dockerfile.parse(file).last()).get(1));
        }
        return paths;
    }

    @Test
    void probedPathsAreTheServiceHealthEndpoints() throws Exception {
        Ready.await();
        Set<String> paths = probePaths();
        assertTrue(paths.containsAll(Set.of("/q/health/live", "/q/health/ready")), paths.toString());
        for (String path : paths) {
            var response = given().get(path);
            // 200 when up, 503 when down: both are the health endpoint answering (a wrong path gives 404).
            assertTrue(response.statusCode() == 200 || response.statusCode() == 503, path + " answered " + response.statusCode());
            String status = JsonPath.from(response.asString()).getString("status");
            assertTrue("UP".equals(status) || "DOWN".equals(status), path + ": " + response.asString());
        }
        assertEquals(200, given().get("/q/health/ready").statusCode(), "ready once the model is loaded and Kafka reachable");
    }

    @Test
    void theImageHealthCheckScriptSeesTheServiceReady() throws Exception {
        Ready.await();
        assertEquals(0, healthcheck("/q/health/ready"), "healthy when ready");
        assertEquals(1, healthcheck("/no/such/endpoint"), "a 404 is not healthy");
    }

    private int healthcheck(String path) throws Exception {
        List<String> command = new ArrayList<>(List.of("bash", "docker/healthcheck.sh", path));
        ProcessBuilder pb = new ProcessBuilder(command).directory(Repo.ROOT.toFile()).redirectErrorStream(true);
        pb.environment().put("QUARKUS_HTTP_PORT", String.valueOf(port));
        Process p = pb.start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertTrue(p.waitFor(60, TimeUnit.SECONDS), "healthcheck.sh did not finish: " + out);
        return p.exitValue();
    }

    @Test
    void livenessReportsTheKernelPathInUse() {
        JsonPath live = JsonPath.from(given().get("/q/health/live").asString());
        List<Map<String, Object>> checks = live.getList("checks");
        Map<String, Object> kernels = checks.stream().filter(c -> "kernels".equals(c.get("name"))).findFirst()
                .orElseThrow(() -> new AssertionError("no kernels check in " + live.prettify()));
        @SuppressWarnings("unchecked")
        Map<String, Object> data = (Map<String, Object>) kernels.get("data");
        String expected = Boolean.getBoolean("moeflow.kernels.scalar") ? "scalar" : (Kernels.vectorEnabled() ? "vector" : "scalar");
        assertEquals(expected, data.get("path"), "the kernel path with moeflow.kernels.scalar=" + System.getProperty("moeflow.kernels.scalar"));
        assertEquals(Kernels.describe(), data.get("description"));
    }
}
