package io.moeflow.experts;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import io.moeflow.gguf.GgufFile;
import io.moeflow.gguf.GgufTensor;
import io.moeflow.kernels.QMatrix;
import io.moeflow.testing.SharedFiles;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicReference;
import java.util.function.BooleanSupplier;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * The cache itself, over the expert tensors of the golden qwen3moe Q8_0 file (2 MoE layers of 16 experts) with a
 * test double of the reader (plain reads, so positions are the tensors' own offsets): pinning, read-once, budget
 * accounting, prefetch limits.
 */
class ExpertStoreTest {
    static GgufFile file;
    static List<ExpertStore.LayerSpec> specs;
    static long slotBytes;

    @BeforeAll
    static void open() {
        file = GgufFile.open(SharedFiles.require("golden/qwen3moe-tiny-Q8_0/qwen3moe-tiny-Q8_0.gguf"));
        specs = new ArrayList<>();
        for (int l = 0; l < 2; l++)
            specs.add(new ExpertStore.LayerSpec(l, ExpertSlice.of(t(l, "ffn_gate_exps")), ExpertSlice.of(t(l, "ffn_up_exps")),
                    ExpertSlice.of(t(l, "ffn_down_exps")), null));
        try (ExpertStore s = store("100%", EvictionPolicy.LRU, new TestReaders(false))) {
            slotBytes = s.slotBytes();
        }
    }

    @AfterAll
    static void close() {
        if (file != null) file.close();
    }

    static GgufTensor t(int layer, String name) {
        return file.tensor("blk." + layer + "." + name + ".weight");
    }

    static ExpertStore store(String budget, EvictionPolicy policy, TestReaders readers) {
        return store(specs, budget, policy, readers, null);
    }

    /** A store over {@code layers} that prefetches what {@code routing} (nullable: no prefetch) chooses. */
    static ExpertStore store(List<ExpertStore.LayerSpec> layers, String budget, EvictionPolicy policy, TestReaders readers, ExpertRouting routing) {
        var cfg = new ExpertStoreConfig(ExpertStoreConfig.Mode.BUDGETED, budget, policy, routing != null, 4, readers);
        return new ExpertStore(layers, routing, cfg);
    }

    static String slots(int n) {
        return String.valueOf(n * slotBytes);
    }

    /** File position of matrix {@code gate}/{@code up}/{@code down} of expert {@code e} in layer {@code l}. */
    static long position(int l, String matrix, int e) {
        GgufTensor t = t(l, "ffn_" + matrix + "_exps");
        return t.offset() + e * t.bytesPerExpert();
    }

    static void assertHolds(ExpertWeights w, int layer, int e) {
        assertSameBytes(t(layer, "ffn_gate_exps").expert(e), w.gate(e));
        assertSameBytes(t(layer, "ffn_up_exps").expert(e), w.up(e));
        assertSameBytes(t(layer, "ffn_down_exps").expert(e), w.down(e));
    }

    static void assertSameBytes(QMatrix mapped, QMatrix cached) {
        assertEquals(mapped.type(), cached.type());
        assertEquals(mapped.rows(), cached.rows());
        assertEquals(mapped.cols(), cached.cols());
        long n = mapped.byteSize();
        assertEquals(-1, mapped.data().asSlice(mapped.offset(), n).mismatch(cached.data().asSlice(cached.offset(), n)),
                "cached bytes equal the file's");
    }

    @Test
    void acquiredExpertsHoldTheFilesBytesAndBudgetIsValidated() {
        try (ExpertStore s = store(slots(3), EvictionPolicy.LFU, new TestReaders(false))) {
            assertEquals(3, s.slots());
            assertTrue(s.allocatedBytes() <= s.budgetBytes());
            ExpertWeights w = s.layer(1);
            assertEquals(3, w.maxAcquired());
            int[] ids = {7, 2, 15};
            StoreSteps.hold(w, ids, 0, 3);
            for (int e : ids) assertHolds(w, 1, e);
            w.release(ids, 0, 3);
            // not acquired: a clear error, not stale bytes
            var e = assertThrows(IllegalStateException.class, () -> w.gate(0));
            assertTrue(e.getMessage().contains("expert 0 of layer 1"), e.getMessage());
        }
        var tooSmall = assertThrows(IllegalArgumentException.class, () -> store(String.valueOf(slotBytes - 1), EvictionPolicy.LRU, new TestReaders(false)));
        assertTrue(tooSmall.getMessage().contains("smaller than one expert slot"), tooSmall.getMessage());
    }

    @Test
    void aPinnedExpertIsNeverEvicted() throws Exception {
        TestReaders readers = new TestReaders(false);
        AtomicBoolean released = new AtomicBoolean();
        AtomicReference<String> violation = new AtomicReference<>();
        var routing = new StoreSteps.ScriptedRouting();
        try (ExpertStore s = store(specs, slots(2), EvictionPolicy.LRU, readers, routing)) {
            ExpertWeights l0 = s.layer(0), l1 = s.layer(1);
            int[] pinned = {0, 1};
            routing.next(8, 9);
            s.ffnInput(0, new float[256], 1); // layer 1's prefetch, issued after layer 0's own misses
            StoreSteps.hold(l0, pinned, 0, 2);
            // so the prefetch found no victim
            assertEquals(0, s.stats().total().prefetchIssued());
            assertEquals(0, readers.readsAt(position(1, "gate", 8)));

            // more than the cache holds at once: a clear error, and the pins stay
            var tooMany = assertThrows(IllegalStateException.class, () -> StoreSteps.hold(l1, new int[] {3, 4, 5}, 0, 3));
            assertTrue(tooMany.getMessage().contains("cannot hold"), tooMany.getMessage());

            // another caller's miss must wait for our release: its read happens only after it
            readers.duringRead = () -> {
                if (!released.get()) violation.set("an expert was read into the cache while all slots were pinned");
            };
            Thread other = new Thread(() -> {
                StoreSteps.hold(l1, new int[] {5}, 0, 1);
                l1.release(new int[] {5}, 0, 1);
            });
            other.start();
            awaitState(other, "the other caller waits for a free slot");
            for (int e : pinned) assertHolds(l0, 0, e);
            released.set(true);
            l0.release(pinned, 0, 2);
            other.join();
            assertNull(violation.get());
            assertEquals(1, readers.readsAt(position(1, "gate", 5)));
        }
    }

    @Test
    void requestedExpertsAreHandedOutAsTheyArriveCachedOnesFirst() throws Exception {
        TestReaders readers = new TestReaders(false);
        try (ExpertStore s = store(slots(4), EvictionPolicy.LFU, readers)) {
            ExpertWeights w = s.layer(0);
            int[] warm = {9};
            StoreSteps.hold(w, warm, 0, 1);
            w.release(warm, 0, 1);
            readers.gate = new CountDownLatch(1); // the misses below stay in flight until the gate opens
            int[] ids = {3, 9, 12};
            w.request(ids, 0, 3);
            try {
                // only the cached expert is ready while both reads are held: it comes first, the call does not wait
                assertEquals(1, w.ready(ids, 0, 3));
                assertEquals(9, ids[0]);
                assertHolds(w, 0, 9);
                readers.gate.countDown();
                int done = 1;
                while (done < 3) done += w.ready(ids, done, 3 - done);
                assertEquals(Set.of(3, 9, 12), Set.of(ids[0], ids[1], ids[2]), "the range is reordered, not changed");
                for (int e : ids) assertHolds(w, 0, e);
            } finally {
                w.release(ids, 0, 3);
            }
            assertEquals(1, readers.readsAt(position(0, "gate", 9)), "the cached expert was not read again");
            ExpertCacheStats.Layer l = s.stats().layers().get(0);
            assertEquals(3, l.misses());
            assertEquals(1, l.hits());
        }
    }

    @Test
    void aFailedRequestedExpertIsNamedAfterTheHealthyOnesAreHandedOut() {
        TestReaders readers = new TestReaders(false);
        long bad = position(0, "up", 5);
        readers.failAt = p -> p == bad;
        try (ExpertStore s = store(slots(4), EvictionPolicy.LFU, readers)) {
            ExpertWeights w = s.layer(0);
            int[] ids = {5, 6};
            w.request(ids, 0, 2);
            try {
                assertEquals(1, w.ready(ids, 0, 2));
                assertEquals(6, ids[0]);
                var e = assertThrows(ExpertReadException.class, () -> w.ready(ids, 1, 1));
                assertArrayEquals(new int[] {5}, e.experts());
                assertTrue(e.getMessage().contains("expert 5 of layer 0"), e.getMessage());
            } finally {
                w.release(ids, 0, 2);
            }
            readers.failAt = p -> false; // a transient fault: the released failed slot is read again next time
            int[] again = {5};
            StoreSteps.hold(w, again, 0, 1);
            assertHolds(w, 0, 5);
            w.release(again, 0, 1);
        }
    }

    @Test
    void concurrentMissesOfOneExpertAreReadOnce() throws Exception {
        TestReaders readers = new TestReaders(false);
        readers.gate = new CountDownLatch(1);
        try (ExpertStore s = store(slots(8), EvictionPolicy.LFU, readers)) {
            ExpertWeights w = s.layer(0);
            List<Thread> threads = new ArrayList<>();
            Set<Throwable> errors = ConcurrentHashMap.newKeySet();
            for (int i = 0; i < 4; i++) {
                Thread t = new Thread(() -> {
                    try {
                        int[] ids = {4, 6};
                        StoreSteps.hold(w, ids, 0, 2);
                        assertHolds(w, 0, 4);
                        assertHolds(w, 0, 6);
                        w.release(ids, 0, 2);
                    } catch (Throwable e) {
                        errors.add(e);
                    }
                });
                threads.add(t);
                t.start();
            }
            for (Thread t : threads) awaitState(t, "every caller waits for the reads");
            readers.gate.countDown();
            for (Thread t : threads) t.join();
            assertTrue(errors.isEmpty(), errors.toString());
            for (String m : new String[] {"gate", "up", "down"})
                for (int e : new int[] {4, 6}) assertEquals(1, readers.readsAt(position(0, m, e)), m + " of expert " + e);
            ExpertCacheStats.Layer l = s.stats().layers().get(0);
            assertEquals(2, l.misses());
            assertEquals(6, l.hits());
            assertEquals(2, l.reads());
        }
    }

    @Test
    void aPrefetchInFlightServesTheMissWithoutASecondRead() throws Exception {
        TestReaders readers = new TestReaders(false);
        readers.gate = new CountDownLatch(1);
        // a store of layer 1 alone: layer 0's FFN input issues layer 1's prefetch at once
        try (ExpertStore s = store(specs.subList(1, 2), slots(4), EvictionPolicy.LRU, readers, new StoreSteps.ScriptedRouting().next(9, 10))) {
            s.ffnInput(0, new float[256], 1);
            ExpertWeights w = s.layer(1);
            Thread t = new Thread(() -> {
                StoreSteps.hold(w, new int[] {9}, 0, 1);
                w.release(new int[] {9}, 0, 1);
            });
            t.start();
            awaitState(t, "the step waits for the prefetch");
            readers.gate.countDown();
            t.join();
            assertEquals(1, readers.readsAt(position(1, "gate", 9)));
            ExpertCacheStats.Layer l = s.stats().layers().get(0);
            assertEquals(1, l.layer());
            assertEquals(2, l.prefetchIssued());
            assertEquals(1, l.prefetchUseful());
            assertEquals(1, l.hits());
            assertEquals(0, l.misses());
        }
    }

    @Test
    void prefetchReadsTheExpertsTheModelsRoutingChoosesForTheNextLayer() {
        TestReaders readers = new TestReaders(false);
        float[] hidden = new float[2 * 256];
        List<String> calls = new ArrayList<>();
        // the model's routing, as the store sees it: 2 tokens, 2 experts each, expert 3 chosen by both
        ExpertRouting routing = (layer, x, n, selected) -> {
            calls.add("layer " + layer + ", " + n + " tokens, " + (x == hidden ? "the residual stream" : "another array"));
            int[] chosen = {3, 9, 3, 12};
            System.arraycopy(chosen, 0, selected, 0, chosen.length);
            return 2;
        };
        var cfg = new ExpertStoreConfig(ExpertStoreConfig.Mode.BUDGETED, "100%", EvictionPolicy.LRU, true, 4, readers);
        try (ExpertStore s = new ExpertStore(specs, routing, cfg)) {
            s.ffnInput(0, hidden, 2);
            assertEquals(List.of("layer 1, 2 tokens, the residual stream"), calls);
            int[] own = {0};
            StoreSteps.hold(s.layer(0), own, 0, 1); // layer 0's own misses go first, then the prefetch of layer 1
            s.layer(0).release(own, 0, 1);
            int[] next = {3, 9, 12};
            StoreSteps.hold(s.layer(1), next, 0, 3);
            s.layer(1).release(next, 0, 3);
            ExpertCacheStats.Layer l = s.stats().layers().get(1);
            assertEquals(3, l.prefetchIssued(), "one read per chosen expert, the shared one once");
            assertEquals(3, l.prefetchUseful());
            assertEquals(0, l.misses());
            for (int e : next) assertEquals(1, readers.readsAt(position(1, "gate", e)), "expert " + e);
        }
    }

    @Test
    void theBudgetHoldsWhileReadsAreInFlight() {
        TestReaders readers = new TestReaders(false);
        AtomicReference<ExpertStore> holder = new AtomicReference<>();
        AtomicReference<String> violation = new AtomicReference<>();
        readers.duringRead = () -> {
            ExpertStore s = holder.get();
            if (s == null) return;
            ExpertCacheStats st = s.stats();
            if (st.usedSlots() > st.slots() || st.allocatedBytes() > st.budgetBytes())
                violation.set(st.summary());
        };
        String budget = String.valueOf(5 * slotBytes + slotBytes / 2);
        var routing = new StoreSteps.ScriptedRouting();
        try (ExpertStore s = store(specs, budget, EvictionPolicy.LFU, readers, routing)) {
            holder.set(s);
            assertEquals(5, s.slots());
            assertEquals(5 * slotBytes, s.allocatedBytes());
            java.util.Random rnd = new java.util.Random(42);
            for (int step = 0; step < 60; step++) {
                int layer = step % 2;
                int[] ids = rnd.ints(0, 16).distinct().limit(4).toArray();
                int guess = rnd.nextInt(16);
                routing.next(guess);
                if (layer == 0) s.ffnInput(0, new float[256], 1); // a prefetch of layer 1, issued after layer 0's misses
                ExpertWeights w = s.layer(layer);
                StoreSteps.hold(w, ids, 0, 4);
                for (int e : ids) assertHolds(w, layer, e);
                w.release(ids, 0, 4);
            }
            ExpertCacheStats st = s.stats();
            assertNull(violation.get());
            assertTrue(st.total().evictions() > 0, st.summary());
            assertEquals(240, st.total().hits() + st.total().misses());
        }
    }

    @Test
    void lfuKeepsAPopularExpertThatLruDrops() {
        // expert 0 is used every step, then three of six others in turn; with 3 slots the three others push 0 out
        // of an LRU cache every time, while LFU keeps it
        int[][] steps = new int[40][];
        for (int i = 0; i < steps.length; i++) steps[i] = new int[] {0, 1 + (3 * i) % 6, 1 + (3 * i + 1) % 6, 1 + (3 * i + 2) % 6};
        long lruMisses, lfuMisses;
        try (ExpertStore s = store(slots(3), EvictionPolicy.LRU, new TestReaders(false))) {
            lruMisses = replay(s, steps);
        }
        try (ExpertStore s = store(slots(3), EvictionPolicy.LFU, new TestReaders(false))) {
            lfuMisses = replay(s, steps);
        }
        assertEquals(160, lruMisses, "LRU misses every access of this loop");
        // LFU: expert 0 misses twice (in the first step all counts tie and it is the oldest), the others always
        assertEquals(122, lfuMisses, "LFU misses");
    }

    private static long replay(ExpertStore s, int[][] steps) {
        ExpertWeights w = s.layer(0);
        for (int[] ids : steps) {
            for (int e : ids) { // one expert at a time, as a step of waves of 1 would
                StoreSteps.hold(w, new int[] {e}, 0, 1);
                w.release(new int[] {e}, 0, 1);
            }
        }
        return s.stats().total().misses();
    }

    @Test
    void aFailedReadFailsTheCallClearlyAndTheNextCallReadsAgain() {
        TestReaders readers = new TestReaders(false);
        long bad = position(1, "up", 3);
        readers.failAt = p -> p == bad;
        try (ExpertStore s = store(slots(4), EvictionPolicy.LRU, readers)) {
            ExpertWeights w = s.layer(1);
            int[] ids = {2, 3};
            var e = assertThrows(ExpertReadException.class, () -> StoreSteps.hold(w, ids, 0, 2));
            assertEquals(1, e.layer());
            assertEquals(3, e.expert());
            assertTrue(e.getMessage().contains("expert 3 of layer 1") && e.getMessage().contains(file.path().toString())
                    && e.getMessage().contains("blk.1.ffn_up_exps") && e.getMessage().contains("injected I/O error"), e.getMessage());
            // nothing stays pinned: all four slots are usable, and a healthy read brings expert 3
            readers.failAt = p -> false;
            int[] four = {3, 5, 6, 7};
            StoreSteps.hold(w, four, 0, 4);
            for (int x : four) assertHolds(w, 1, x);
            w.release(four, 0, 4);
            assertEquals(2, readers.readsAt(bad));

            readers.shortAt = p -> p == position(1, "down", 11);
            var shortRead = assertThrows(ExpertReadException.class, () -> StoreSteps.hold(w, new int[] {11}, 0, 1));
            assertTrue(shortRead.getMessage().contains("short read of blk.1.ffn_down_exps"), shortRead.getMessage());
        }
    }

    @Test
    void closedStoreRefusesClearly() {
        ExpertStore s = store(slots(2), EvictionPolicy.LRU, new TestReaders(false));
        ExpertWeights w = s.layer(0);
        s.close();
        var e = assertThrows(IllegalStateException.class, () -> StoreSteps.hold(w, new int[] {1}, 0, 1));
        assertTrue(e.getMessage().contains("closed"), e.getMessage());
        assertFalse(e.getMessage().isBlank());
    }

    /** Waits until {@code t} blocks (a wait inside the store); the limit only stops a hang. */
    static void awaitState(Thread t, String what) {
        BooleanSupplier blocked = () -> t.getState() == Thread.State.WAITING || t.getState() == Thread.State.TIMED_WAITING;
        long end = System.nanoTime() + 30_000_000_000L;
        while (!blocked.getAsBoolean()) {
            if (System.nanoTime() > end || !t.isAlive()) fail("gave up waiting for: " + what + " (thread " + t.getState() + ")");
            Thread.onSpinWait();
        }
    }
}
