package io.moeflow.kernels;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.lang.management.ManagementFactory;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import jdk.incubator.vector.FloatVector;
import org.junit.jupiter.api.Test;

/**
 * The width matrix of .ci/run is real: the flags given through {@code -Dmoeflow.test.jvm.flags} reach this JVM, and
 * the kernels run at the width they ask for (an earlier CI passed "at every width" while every run was 512-bit).
 */
class VectorWidthTest {
    @Test
    void requestedFlagsReachTheJvmAndSetTheWidth() {
        String requested = System.getProperty("moeflow.test.jvm.flags.requested", "").trim();
        List<String> args = ManagementFactory.getRuntimeMXBean().getInputArguments();
        int bits = FloatVector.SPECIES_PREFERRED.vectorBitSize();
        for (String flag : requested.isEmpty() ? new String[0] : requested.split("\\s+")) {
            assertTrue(args.contains(flag), "flag " + flag + " did not reach the test JVM: " + args);
            Matcher m = Pattern.compile("-XX:MaxVectorSize=(\\d+)").matcher(flag);
            if (m.matches()) assertTrue(bits <= 8 * Integer.parseInt(m.group(1)), bits + "-bit vectors despite " + flag);
            if (flag.equals("-XX:UseAVX=2") || flag.equals("-XX:UseAVX=1")) assertTrue(bits <= 256, bits + "-bit vectors despite " + flag);
        }
        if (Kernels.vectorEnabled()) assertEquals("Vector API kernels, " + bits + "-bit (" + bits / 32 + " float lanes)", Kernels.describe());
        else assertEquals("scalar kernels", Kernels.describe());
    }
}
