package io.moeflow.testing;

import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Assumptions;

/**
 * Locates ../shared (golden logits, tokenizer vectors, the stories260K model). Tests that need a file
 * there call {@link #require} and are reported as skipped, not passed, where it is absent.
 */
public final class SharedFiles {
    private SharedFiles() {}

    public static Path root() {
        String p = System.getProperty("moeflow.shared.dir");
        return Path.of(p != null ? p : "../shared").toAbsolutePath().normalize();
    }

    /** The file or directory at {@code relative} under ../shared; skips the calling test when it is missing. */
    public static Path require(String relative) {
        Path f = root().resolve(relative);
        Assumptions.assumeTrue(Files.exists(f), () -> "skipped: " + f + " is not present (../shared is missing)");
        return f;
    }
}
