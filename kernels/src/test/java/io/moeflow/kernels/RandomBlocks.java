package io.moeflow.kernels;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.Random;

/**
 * Random blocks of a block type for tests and benchmarks of types without a reference quantizer: every byte random
 * except each block's f16 scale, a finite value of either sign between 2^-8 and 2^3, so every code, grid index, sign
 * and sub-block scale occurs and no value is infinite.
 */
public final class RandomBlocks {
    private RandomBlocks() {}

    /** The types whose scale fields this class knows: the IQ and ternary ones. */
    public static boolean covers(GgmlType t) {
        return switch (t) {
            case IQ4_NL, IQ4_XS, IQ2_XXS, IQ2_XS, IQ2_S, IQ3_XXS, IQ3_S, IQ1_S, IQ1_M, TQ1_0, TQ2_0 -> true;
            default -> false;
        };
    }

    public static void fill(GgmlType t, MemorySegment seg, long offset, long blocks, Random rnd) {
        for (long i = 0; i < blocks * t.typeSize; i++) seg.set(ValueLayout.JAVA_BYTE, offset + i, (byte) rnd.nextInt());
        for (long b = 0; b < blocks; b++) {
            short d = Float.floatToFloat16((float) ((1 + rnd.nextDouble()) * Math.scalb(1.0, rnd.nextInt(11) - 8) * (rnd.nextBoolean() ? -1 : 1)));
            putScale(t, seg, offset + b * t.typeSize, d);
        }
    }

    private static void putScale(GgmlType t, MemorySegment seg, long o, short d) {
        var u16 = Int8LevelFormat.U16;
        switch (t) {
            case IQ1_M -> { // the f16 is the top nibbles of the four scale words
                for (int k = 0; k < 4; k++) {
                    long at = o + 48 + 2 * k;
                    seg.set(u16, at, (short) ((seg.get(u16, at) & 0x0FFF) | ((d >> 4 * k) & 0xF) << 12));
                }
            }
            case TQ1_0, TQ2_0 -> seg.set(u16, o + t.typeSize - 2, d);
            case IQ4_NL, IQ4_XS, IQ2_XXS, IQ2_XS, IQ2_S, IQ3_XXS, IQ3_S, IQ1_S -> seg.set(u16, o, d);
            default -> throw new IllegalArgumentException("no random blocks for " + t);
        }
    }
}
