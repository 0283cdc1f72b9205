package io.moeflow.experts;

/**
 * How many pins each thread holds (few threads: the forward thread, tests' extra callers), so a caller that
 * waits for a slot can tell that only its own pins block it (waiting would never end). Entries of threads without
 * pins are reused: this allocates only when more threads hold pins than ever before.
 *
 * <p>Locking: not thread-safe; used only under the store's lock.
 */
final class PinHolders {
    private Thread[] thread = new Thread[4];
    private int[] pins = new int[4];

    /** The entry of {@code t}, made when it has none. */
    int of(Thread t) {
        int free = -1;
        for (int i = 0; i < thread.length; i++) {
            if (thread[i] == t) return i;
            if (free < 0 && (thread[i] == null || pins[i] == 0)) free = i;
        }
        if (free < 0) {
            free = thread.length;
            thread = java.util.Arrays.copyOf(thread, free * 2);
            pins = java.util.Arrays.copyOf(pins, free * 2);
        }
        thread[free] = t;
        pins[free] = 0;
        return free;
    }

    void pinned(int holder) {
        pins[holder]++;
    }

    void unpinned(int holder) {
        if (pins[holder] > 0) pins[holder]--;
    }

    int pins(int holder) {
        return pins[holder];
    }
}
