package io.moeflow.experts;

import io.moeflow.kernels.QMatrix;
import java.lang.foreign.MemorySegment;

/**
 * One MoE layer's experts as the model sees them when they are served from an {@link ExpertStore}: where each of
 * an expert's three matrices lies inside a slot, which slot holds which expert, the matrix views of the experts in
 * memory, and the layer's counters. The step protocol ({@link #request}, {@link #ready}, {@link #release}) is the
 * store's.
 *
 * <p>Locking: {@link #slotOf}, the views and the counters are written only under the store's lock. A view is read
 * without it between {@code ready} (which hands it over under the lock) and {@code release}; a pinned slot is never
 * reassigned, so the view stays valid.
 */
final class CachedLayer implements ExpertWeights {
    final int index, pos, nExpert;
    /** Slot of each expert, -1 when it is not in memory. */
    final int[] slotOf;
    final Counters counters = new Counters();
    private final ExpertStore store;
    private final ExpertSlice[] slices;
    private final long[] region = new long[3];
    private final long bytesPerExpert, slotBytes;
    private final int align;
    private final QMatrix[] gate, up, down;
    private final ExpertWeights extras;

    /** The layer's counters since the store opened. */
    static final class Counters {
        long hits, misses, bytesRead, reads, waitNanos, prefetchIssued, prefetchUseful, evictions;

        ExpertCacheStats.Layer snapshot(int layer) {
            return new ExpertCacheStats.Layer(layer, hits, misses, bytesRead, reads, waitNanos, prefetchIssued, prefetchUseful, evictions);
        }
    }

    CachedLayer(ExpertStore store, ExpertStore.LayerSpec s, int pos, int align) {
        this.store = store;
        this.pos = pos;
        this.align = align;
        index = s.layer();
        slices = new ExpertSlice[] {s.gate(), s.up(), s.down()};
        nExpert = s.gate().experts();
        for (ExpertSlice x : slices)
            if (x.experts() != nExpert)
                throw new IllegalArgumentException("expert tensor " + x.tensor() + " does not hold " + nExpert + " experts");
        long off = 0, per = 0;
        for (int i = 0; i < 3; i++) {
            long bytes = slices[i].bytes();
            per += bytes;
            region[i] = off;
            // under O_DIRECT a matrix needs the aligned range around it: up to one block more
            off += align > 1 ? ExpertFiles.roundUp(bytes, align) + align : ExpertFiles.roundUp(bytes, 64);
        }
        bytesPerExpert = per;
        slotBytes = off;
        slotOf = new int[nExpert];
        java.util.Arrays.fill(slotOf, -1);
        gate = new QMatrix[nExpert];
        up = new QMatrix[nExpert];
        down = new QMatrix[nExpert];
        extras = s.residentExtras();
    }

    /** Matrix {@code i} (0 gate, 1 up, 2 down) of every expert in the file. */
    ExpertSlice slice(int i) {
        return slices[i];
    }

    /** Where matrix {@code i}'s aligned read starts inside a slot. */
    long region(int i) {
        return region[i];
    }

    /** Bytes one expert of this layer needs in a slot (the store's slots fit the largest layer). */
    long slotBytes() {
        return slotBytes;
    }

    /** Expert {@code e} now lives in {@code slot}: its views point into it. Under the store's lock. */
    void bind(int e, int slot, MemorySegment memory) {
        slotOf[e] = slot;
        gate[e] = view(0, e, memory);
        up[e] = view(1, e, memory);
        down[e] = view(2, e, memory);
    }

    /** Expert {@code e} left its slot. Under the store's lock. */
    void unbind(int e) {
        slotOf[e] = -1;
        gate[e] = up[e] = down[e] = null;
    }

    private QMatrix view(int matrix, int e, MemorySegment slot) {
        ExpertSlice x = slices[matrix];
        return new QMatrix(x.tensor().type(), slot, region[matrix] + x.fileOffset(e) % align, x.cols(), x.rows());
    }

    private QMatrix held(QMatrix q, int e) {
        if (q == null) throw new IllegalStateException("expert " + e + " of layer " + index + " is not held (request it and take it with ready first)");
        return q;
    }

    void checkExpert(int e) {
        if (e < 0 || e >= nExpert) throw new IllegalArgumentException("expert " + e + " is out of range 0.." + (nExpert - 1) + " in layer " + index);
    }

    @Override public int count() { return nExpert; }

    @Override public QMatrix gate(int e) { return held(gate[e], e); }

    @Override public QMatrix up(int e) { return held(up[e], e); }

    @Override public QMatrix down(int e) { return held(down[e], e); }

    @Override public float[] gateBias(int e) { return extras == null ? null : extras.gateBias(e); }

    @Override public float[] upBias(int e) { return extras == null ? null : extras.upBias(e); }

    @Override public float[] downBias(int e) { return extras == null ? null : extras.downBias(e); }

    @Override public float gateScale(int e) { return extras == null ? 1f : extras.gateScale(e); }

    @Override public float upScale(int e) { return extras == null ? 1f : extras.upScale(e); }

    @Override public float downScale(int e) { return extras == null ? 1f : extras.downScale(e); }

    @Override public long bytesPerExpert() { return bytesPerExpert; }

    @Override public int maxAcquired() { return store.slots(); }

    @Override public void request(int[] ids, int from, int n) { store.request(this, ids, from, n); }

    @Override public int ready(int[] ids, int from, int n) { return store.ready(this, ids, from, n); }

    @Override public void release(int[] ids, int from, int n) { store.release(this, ids, from, n); }
}
