package io.moeflow.testing;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.stream.Collectors;
import java.util.stream.IntStream;
import org.junit.jupiter.api.Assumptions;

/**
 * Logits from the independent float64 numpy forward pass ({@code src/test/resources/reference/forward_f64.py},
 * moeflow's extended copy of the golden set's reference), for the file variants the golden set has no llama.cpp
 * logits for. Skips the calling test where python3 with numpy is absent.
 */
public final class ReferenceForward {
    private ReferenceForward() {}

    static final Path SCRIPT = Path.of("src/test/resources/reference/forward_f64.py");
    private static Boolean available;

    private static synchronized boolean available() {
        if (available == null) {
            try {
                Process p = new ProcessBuilder("python3", "-c", "import numpy").redirectErrorStream(true).start();
                available = p.waitFor(60, TimeUnit.SECONDS) && p.exitValue() == 0;
            } catch (IOException e) {
                available = false;
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                available = false;
            }
        }
        return available;
    }

    /** {@code [tokens.length][vocab]} logits of {@code model} for {@code tokens}, batch (all positions). */
    public static float[] logits(Path model, int[] tokens) throws IOException {
        Assumptions.assumeTrue(available(), "skipped: python3 with numpy is not available for the reference forward pass");
        Path out = Files.createTempFile("reference-logits-", ".f32");
        try {
            List<String> cmd = new ArrayList<>(List.of("python3", SCRIPT.toAbsolutePath().toString(), model.toAbsolutePath().toString(),
                    "--tokens", IntStream.of(tokens).mapToObj(Integer::toString).collect(Collectors.joining(",")), "--out", out.toString()));
            Process p = new ProcessBuilder(cmd).redirectErrorStream(true).start();
            String log;
            try {
                boolean done = p.waitFor(10, TimeUnit.MINUTES);
                log = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
                if (!done) {
                    p.destroyForcibly();
                    throw new IOException("the reference forward pass did not finish in 10 minutes: " + log);
                }
            } catch (InterruptedException e) {
                p.destroyForcibly();
                Thread.currentThread().interrupt();
                throw new IOException("interrupted", e);
            }
            if (p.exitValue() != 0) throw new IOException("the reference forward pass failed (exit " + p.exitValue() + "): " + log);
            ByteBuffer b = ByteBuffer.wrap(Files.readAllBytes(out)).order(ByteOrder.LITTLE_ENDIAN);
            float[] f = new float[b.remaining() / 4];
            b.asFloatBuffer().get(f);
            return f;
        } finally {
            Files.deleteIfExists(out);
        }
    }
}
