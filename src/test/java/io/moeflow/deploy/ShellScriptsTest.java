package io.moeflow.deploy;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;

/** Every shell script of the repository passes shellcheck (Debian's package; the test is skipped without it). */
class ShellScriptsTest {
    static List<Path> shellScripts() {
        List<Path> scripts = new ArrayList<>();
        for (Path p : Repo.files(".")) {
            String rel = Repo.ROOT.relativize(p).toString();
            if (rel.startsWith(".git") || rel.startsWith("target/") || rel.contains("/target/")) continue;
            if (rel.endsWith(".sh") || firstLine(p).matches("#!\\s*(/usr/bin/env\\s+)?(/bin/|/usr/bin/)?(ba|da|k)?sh\\b.*")) scripts.add(p);
        }
        return scripts;
    }

    private static String firstLine(Path p) {
        try {
            byte[] head = new byte[128];
            int n;
            try (var in = Files.newInputStream(p)) {
                n = in.readNBytes(head, 0, head.length);
            }
            String s = new String(head, 0, n, StandardCharsets.ISO_8859_1);
            int nl = s.indexOf('\n');
            return nl < 0 ? s : s.substring(0, nl);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    private static boolean shellcheckInstalled() {
        try {
            Process p = new ProcessBuilder("shellcheck", "--version").redirectErrorStream(true).start();
            p.getInputStream().readAllBytes();
            return p.waitFor(30, TimeUnit.SECONDS) && p.exitValue() == 0;
        } catch (IOException e) {
            return false;
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return false;
        }
    }

    @Test
    void theScriptsAreFound() {
        List<String> names = shellScripts().stream().map(p -> Repo.ROOT.relativize(p).toString()).toList();
        for (String expected : List.of("moeflow", ".ci/run", "docker/entrypoint.sh", "docker/healthcheck.sh", "k8s/load-model.sh")) {
            assertTrue(names.contains(expected), expected + " not among " + names);
        }
    }

    @Test
    void everyShellScriptPassesShellcheck() throws Exception {
        Assumptions.assumeTrue(shellcheckInstalled(), "shellcheck is not installed (apt-get install -y shellcheck)");
        List<String> command = new ArrayList<>(List.of("shellcheck", "--external-sources"));
        for (Path p : shellScripts()) command.add(Repo.ROOT.relativize(p).toString());
        Process p = new ProcessBuilder(command).directory(Repo.ROOT.toFile()).redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertTrue(p.waitFor(120, TimeUnit.SECONDS));
        assertEquals(0, p.exitValue(), out);
    }
}
