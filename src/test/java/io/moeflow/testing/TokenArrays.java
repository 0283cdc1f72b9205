package io.moeflow.testing;

import java.util.Arrays;

/** Token id arrays for tests. */
public final class TokenArrays {
    private TokenArrays() {}

    /** The parts one after another. */
    public static int[] concat(int[]... parts) {
        int[] out = new int[Arrays.stream(parts).mapToInt(p -> p.length).sum()];
        int o = 0;
        for (int[] p : parts) {
            System.arraycopy(p, 0, out, o, p.length);
            o += p.length;
        }
        return out;
    }
}
