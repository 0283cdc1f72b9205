package io.moeflow.deploy;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

/**
 * After `package` (failsafe runs this in the integration-test phase): docker/Dockerfile.jvm copies only paths the
 * build produced, and its entry point runs the command-line tools from that layout as it will in the image.
 */
class DockerfileCopyIT {
    @Test
    void everyBuildOutputTheJvmImageCopiesExists() {
        int checked = 0;
        for (Dockerfile.Copy copy : Dockerfile.copies(Dockerfile.parse(DockerFilesTest.JVM).last())) {
            if (copy.from() != null) continue;
            for (String source : copy.sources()) {
                assertTrue(Files.exists(Repo.path(source)), DockerFilesTest.JVM + ":" + copy.line() + ": " + source + " does not exist after package");
                if (source.startsWith("target/")) checked++;
            }
        }
        assertTrue(checked >= 4, "checked " + checked + " build outputs");
    }

    @Test
    void theEntryPointRunsTheCommandLineToolsFromTheImageLayout() throws Exception {
        Path javaBin = Path.of(System.getProperty("java.home"), "bin");
        List<String> command = new ArrayList<>(List.of("bash", "docker/entrypoint.sh", "topics", "create", "--help"));
        ProcessBuilder pb = new ProcessBuilder(command).directory(Repo.ROOT.toFile()).redirectErrorStream(true);
        pb.environment().put("MOEFLOW_HOME", Repo.path("target/quarkus-app").toString());
        pb.environment().put("PATH", javaBin + ":" + System.getenv("PATH"));
        // The value the image sets (docker/Dockerfile.jvm).
        pb.environment().put("JDK_JAVA_OPTIONS", DockerFilesTest.env(Dockerfile.parse(DockerFilesTest.JVM).last()).get("JDK_JAVA_OPTIONS"));
        Process p = pb.start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertTrue(p.waitFor(120, TimeUnit.SECONDS), "the entry point did not finish");
        assertEquals(0, p.exitValue(), out);
        assertTrue(out.contains("--bootstrap-servers"), out);
    }
}
