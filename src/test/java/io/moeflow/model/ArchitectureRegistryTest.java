package io.moeflow.model;

import static org.junit.jupiter.api.Assertions.assertEquals;

import io.moeflow.gguf.Architectures;
import java.util.TreeSet;
import org.junit.jupiter.api.Test;

/** `inspect` (gguf.Architectures) must call supported exactly what the loader (Models) can build. */
class ArchitectureRegistryTest {
    @Test
    void inspectAndLoaderAgree() {
        assertEquals(new TreeSet<>(Models.supported()), new TreeSet<>(Architectures.SUPPORTED_ARCHITECTURES));
    }
}
