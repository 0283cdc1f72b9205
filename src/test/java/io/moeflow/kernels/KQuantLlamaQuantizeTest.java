package io.moeflow.kernels;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.moeflow.gguf.GgufFile;
import io.moeflow.gguf.GgufTensor;
import io.moeflow.testing.SharedFiles;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.file.Path;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * Cross-check with llama.cpp's own quantizer: the golden Q4_K_M files were made by llama-quantize (no imatrix, so
 * ggml's quantize_row_q4_K_ref / q6_K_ref) from the F32 files with the same tensor names. Quantizing the F32 tensors
 * with our quantize() must give the same bytes. (Lives in the application's test tree: it reads GGUF files with
 * io.moeflow.gguf, which the kernels tree does not depend on.)
 */
class KQuantLlamaQuantizeTest {

    @ParameterizedTest
    @ValueSource(strings = {"llama-dense", "qwen3moe-tiny"})
    void quantizeReproducesLlamaQuantizeBytes(String model) {
        Path f32Path = SharedFiles.require("golden/" + model + "-F32/" + model + "-F32.gguf");
        Path qPath = SharedFiles.require("golden/" + model + "-Q4_K_M/" + model + "-Q4_K_M.gguf");
        try (GgufFile f32 = GgufFile.open(f32Path); GgufFile q = GgufFile.open(qPath); Arena arena = Arena.ofConfined()) {
            int tensors = 0;
            long blocks = 0, identical = 0;
            StringBuilder report = new StringBuilder();
            for (GgufTensor qt : q.tensors()) {
                GgmlType type = qt.type();
                if (type != GgmlType.Q4_K && type != GgmlType.Q6_K) continue;
                GgufTensor ft = f32.tensor(qt.name());
                assertEquals(GgmlType.F32, ft.type(), qt.name() + " in the F32 file");
                assertEquals(qt.elements(), ft.elements(), qt.name() + " shapes");
                float[] src = ft.toFloats();
                int n = src.length;
                MemorySegment ours = arena.allocate(type.bytesFor(n));
                Formats.of(type).quantize(src, 0, n, ours, 0);
                MemorySegment theirs = qt.data();
                long same = 0, nb = n / 256;
                for (long b = 0; b < nb; b++) {
                    long o = b * type.typeSize;
                    if (MemorySegment.mismatch(ours, o, o + type.typeSize, theirs, o, o + type.typeSize) < 0) same++;
                }
                report.append(String.format("%s %s: %d/%d blocks identical%n", qt.name(), type, same, nb));
                tensors++;
                blocks += nb;
                identical += same;
            }
            System.out.print(model + ":\n" + report);
            assertTrue(tensors >= 3, "expected Q4_K and Q6_K tensors in " + qPath);
            assertEquals(blocks, identical, model + ": blocks differing from llama-quantize:\n" + report);
        }
    }
}
