package io.moeflow.experts;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;

/**
 * The expert cache's whole memory: one off-heap allocation cut into {@code slots} equal slots of
 * {@code slotBytes}, aligned for direct I/O. Each slot holds one expert's three matrices.
 *
 * <p>Locking: none needed; fixed at construction. {@link #close} frees the memory and runs once, after the I/O
 * threads stopped and no view into a slot can be used any more.
 */
final class ExpertSlab implements AutoCloseable {
    private final Arena arena = Arena.ofShared();
    private final MemorySegment[] slots;

    ExpertSlab(int slots, long slotBytes, long alignment) {
        MemorySegment all = arena.allocate(slots * slotBytes, alignment);
        this.slots = new MemorySegment[slots];
        for (int s = 0; s < slots; s++) this.slots[s] = all.asSlice(s * slotBytes, slotBytes);
    }

    MemorySegment slot(int s) {
        return slots[s];
    }

    @Override
    public void close() {
        arena.close();
    }
}
