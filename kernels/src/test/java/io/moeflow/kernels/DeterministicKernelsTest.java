package io.moeflow.kernels;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.lang.management.ManagementFactory;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

/**
 * The kernels give the same bits however the JVM runs them: a child JVM in the interpreter ({@code -Xint}) and
 * this JVM after C2 has compiled every kernel compute identical results for every format and vector count. This is
 * what makes logits repeat from one run to the next (a run's early tokens are computed by interpreted or C1 code, its
 * later ones by C2); floating-point reductions whose order the JIT may choose ({@code reduceLanes(ADD)}) break it.
 * The child gets this JVM's -XX flags, so each vector width of the CI matrix is checked at that width.
 */
class DeterministicKernelsTest {
    static final GgmlType[] TYPES = {GgmlType.F32, GgmlType.F16, GgmlType.BF16, GgmlType.Q8_0, GgmlType.Q4_0,
            GgmlType.Q4_1, GgmlType.Q5_0, GgmlType.Q5_1, GgmlType.Q2_K, GgmlType.Q3_K, GgmlType.Q4_K, GgmlType.Q5_K,
            GgmlType.Q6_K, GgmlType.MXFP4, GgmlType.IQ4_NL, GgmlType.IQ4_XS, GgmlType.IQ2_XXS, GgmlType.IQ2_XS,
            GgmlType.IQ2_S, GgmlType.IQ3_XXS, GgmlType.IQ3_S, GgmlType.IQ1_S, GgmlType.IQ1_M, GgmlType.TQ1_0, GgmlType.TQ2_0};
    /** One vector (decode), the padded 2-3 case, register blocks of four with tails, and the tiled GEMM (>= 8). */
    static final int[] N_VEC = {1, 3, 4, 5, 9};
    static final int ROWS = 8, COLS = 512;

    /** One line per (type, nVec): the type, the count and a digest of the raw bits of every output. */
    static List<String> digests() {
        List<String> lines = new ArrayList<>();
        for (GgmlType t : TYPES) {
            QMatrix w = FormatKernelsTest.randomMatrix(t, ROWS, COLS, 77 + t.id);
            for (int nVec : N_VEC) {
                float[] x = FormatKernelsTest.randomVectors(nVec, COLS, 5 + nVec);
                float[] out = new float[nVec * ROWS];
                Kernels.matmul(Formats.of(t), w, 0, ROWS, x, COLS, nVec, out, ROWS);
                long h = 1125899906842597L;
                for (float f : out) h = 31 * h + Float.floatToRawIntBits(f);
                lines.add(t + " " + nVec + " " + Long.toHexString(h));
            }
        }
        float[] a = FormatKernelsTest.randomVectors(1, 1000, 3);
        lines.add("dot " + Float.floatToRawIntBits(VectorMath.dot(a, 0, a, 1, 999)));
        return lines;
    }

    /** Run by the child JVM. */
    public static void main(String[] args) {
        for (String line : digests()) System.out.println(line);
    }

    @Test
    void interpretedAndCompiledKernelsGiveTheSameBits() throws Exception {
        // Long enough for C2 to compile every kernel in this JVM (the default threshold is ~10k invocations).
        for (int i = 0; i < 300; i++) digests();
        List<String> compiled = digests();
        List<String> interpreted = childDigests();
        assertEquals(compiled.size(), interpreted.size(), "child printed " + interpreted);
        for (int i = 0; i < compiled.size(); i++)
            assertEquals(interpreted.get(i), compiled.get(i), "interpreter vs C2 (" + Kernels.describe() + ")");
    }

    private static final java.util.regex.Pattern UNORDERED_REDUCTION =
            java.util.regex.Pattern.compile("reduceLanes\\((jdk\\.incubator\\.vector\\.)?(VectorOperators\\.)?(ADD|MUL)\\b");

    /**
     * Float lane sums go through VectorMath.sum (fixed order); reduceLanes(ADD/MUL) may not come back, except on
     * integer lanes (exact in any order), marked on the line with {@code // exact: integer lanes}.
     */
    @Test
    void noKernelSumsFloatLanesInAnUnspecifiedOrder() throws IOException {
        Path dir = Path.of("kernels/src/main/java/io/moeflow/kernels");
        try (var files = java.nio.file.Files.list(dir)) {
            for (Path f : files.toList()) {
                List<String> lines = java.nio.file.Files.readAllLines(f);
                for (int i = 0; i < lines.size(); i++) {
                    String line = lines.get(i);
                    assertTrue(!UNORDERED_REDUCTION.matcher(line).find() || line.contains("exact: integer lanes"),
                            f + ":" + (i + 1) + " reduces float lanes with ADD or MUL; use VectorMath.sum (fixed order)");
                }
            }
        }
    }

    private static List<String> childDigests() throws IOException, InterruptedException {
        List<String> cmd = new ArrayList<>();
        cmd.add(Path.of(System.getProperty("java.home"), "bin", "java").toString());
        cmd.add("-Xint");
        for (String arg : ManagementFactory.getRuntimeMXBean().getInputArguments())
            if (arg.startsWith("-XX:") || arg.startsWith("--add-modules") || arg.startsWith("-Dmoeflow.kernels")) cmd.add(arg);
        cmd.add("-cp");
        cmd.add(System.getProperty("java.class.path"));
        cmd.add(DeterministicKernelsTest.class.getName());
        Process p = new ProcessBuilder(cmd).redirectError(ProcessBuilder.Redirect.DISCARD).start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertTrue(p.waitFor(5, TimeUnit.MINUTES), "child JVM did not finish");
        assertEquals(0, p.exitValue(), "child JVM failed: " + out);
        return out.lines().toList();
    }
}
