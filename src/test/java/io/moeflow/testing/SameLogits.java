package io.moeflow.testing;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;

import io.moeflow.model.Logits;
import io.moeflow.model.Model;
import java.util.Arrays;

/**
 * Two models computing the same logits bit for bit (same thread count). The Vector API's float reductions round
 * differently before and after C2 compiles the kernels, so even one model repeats itself bit for bit only once
 * warm: each comparison runs both back to back and accepts the first pair that agrees within {@link #TRIES} tries;
 * different weights never agree.
 */
public final class SameLogits {
    private SameLogits() {}

    public static final int TRIES = 6;

    public static void assertSame(Model expected, Model actual, int[] tokens, boolean decode, String what) {
        float[] r = null, b = null;
        for (int i = 0; i < TRIES; i++) {
            r = Logits.compute(expected, tokens, decode, null);
            b = Logits.compute(actual, tokens, decode, null);
            if (Arrays.equals(r, b)) return;
        }
        assertArrayEquals(r, b, what);
    }
}
