package io.moeflow.api.http;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import io.moeflow.api.RequestParser;
import io.moeflow.api.testing.ScriptedModelProfile;
import io.moeflow.api.testing.ScriptedModelRuntime;
import io.quarkus.test.common.http.TestHTTPResource;
import io.quarkus.test.junit.QuarkusTest;
import io.quarkus.test.junit.TestProfile;
import jakarta.inject.Inject;
import java.io.File;
import java.net.URL;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;

/**
 * The OpenAI npm SDK (package "openai", scripts/openai-sdk) against the Quarkus test server: scripts/openai-sdk/check.mjs
 * sends a chat request with a tool, whole and streamed (through the SDK's own stream helper, which joins
 * tool_calls deltas), and must get the call of a {@link io.moeflow.api.testing.ScriptedModel} writing what
 * gpt-oss writes (harmony: an analysis message, then a commentary call) as typed tool_calls and
 * reasoning_content. Skipped (reported as such) unless node is on the PATH and {@code npm ci} has been run in
 * scripts/openai-sdk (.ci/run does it).
 */
@QuarkusTest
@TestProfile(ScriptedModelProfile.class)
class OpenAiNpmSdkTest {
    static final Path DIR = Path.of("scripts", "openai-sdk");

    @Inject
    ScriptedModelRuntime model;

    @TestHTTPResource("/v1")
    URL base;

    static boolean nodeOnPath() {
        String path = System.getenv("PATH");
        if (path == null) return false;
        for (String dir : path.split(File.pathSeparator)) {
            if (Files.isExecutable(Path.of(dir, "node"))) return true;
        }
        return false;
    }

    @Test
    void sdkGetsTypedToolCallsAndReasoning() throws Exception {
        Assumptions.assumeTrue(nodeOnPath(), "node is not on the PATH");
        Assumptions.assumeTrue(Files.isDirectory(DIR.resolve("node_modules").resolve("openai")),
                "the openai package is not installed: run npm ci in " + DIR);
        model.template(ToolCallsHttpTest.template("openai-gpt-oss-120b.jinja"));
        model.generate("<|call|>", "<|channel|>analysis<|message|>The user wants Paris weather.<|end|><|start|>assistant"
                + "<|channel|>commentary to=functions.get_weather <|constrain|>json<|message|>{\"city\":\"Paris\"}");
        ProcessBuilder pb = new ProcessBuilder("node", "check.mjs").directory(DIR.toFile()).redirectErrorStream(false);
        pb.environment().put("MOEFLOW_URL", base.toString());
        Process p = pb.start();
        p.getOutputStream().close();
        assertTrue(p.waitFor(120, TimeUnit.SECONDS), "check.mjs did not finish");
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        String err = new String(p.getErrorStream().readAllBytes(), StandardCharsets.UTF_8);
        assertEquals(0, p.exitValue(), "check.mjs failed: " + out + err);
        JsonNode result = RequestParser.JSON.readTree(out.strip());
        for (String kind : new String[] {"whole", "streamed"}) {
            JsonNode r = result.get(kind);
            assertEquals("The user wants Paris weather.", r.get("reasoning_content").asText(), kind + ": " + r);
            assertTrue(r.get("content").isNull(), kind + ": " + r);
            assertEquals("tool_calls", r.get("finish_reason").asText(), kind);
            assertEquals(1, r.get("tool_calls").size(), kind);
            JsonNode call = r.get("tool_calls").get(0);
            assertEquals("function", call.get("type").asText());
            assertEquals("get_weather", call.get("name").asText());
            assertEquals("{\"city\":\"Paris\"}", call.get("arguments").asText());
        }
    }
}
