package io.moeflow.experts;

import io.moeflow.kernels.QMatrix;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.BasicFileAttributes;
import java.nio.file.attribute.FileTime;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.PriorityBlockingQueue;
import java.util.concurrent.ThreadPoolExecutor;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;

/**
 * A RAM-budgeted cache of a model's routed experts (the {@code budgeted} expert mode); everything else of the
 * model stays memory-mapped.
 *
 * <p><b>Memory.</b> One off-heap slab from an {@link Arena}, cut into fixed-size slots; a slot holds one expert's
 * gate, up and down matrices, each in its own region aligned to the reader's block size. The {@link QMatrix}
 * views handed to the MoE block point into the slot, so the kernels run unchanged and the logits are bit for bit
 * those of the memory-mapped mode. The slab ({@code slots * slotBytes}) never exceeds the budget.
 *
 * <p><b>A step.</b> After routing a layer, the MoE block {@link ExpertWeights#acquire acquires} the experts it
 * will run. Under the store's lock, hits are pinned, and every miss of the layer gets a victim slot and a read on
 * the I/O pool, all issued together before anything waits (batch-aware reads: one read serves every token routed
 * to the expert). Then the step waits for the experts it needs and nothing else. A miss on an expert whose read
 * is already in flight (a prefetch, another caller) waits for that read: every expert is read once. Pinned experts
 * are never evicted; when the active set is larger than the cache, the MoE block works in waves of
 * {@link ExpertWeights#maxAcquired()} experts, so one slot is enough to run any model.
 *
 * <p><b>Reads.</b> Positional reads through an {@link ExpertReader} (O_DIRECT where allowed: the read covers the
 * block-aligned range around the matrix and the view starts at the matrix inside it). Demand reads go before
 * prefetches in the I/O queue. Each expert is read from the file holding its tensor (one of the parts of a split
 * model; one reader per file). The files' sizes and modification times are recorded at open and checked before
 * every read; a changed file is refused. A failed or short read fails the acquisition with an
 * {@link ExpertReadException} naming layer, the failed experts, tensor and file; the slot is dropped and the next
 * acquisition reads it again (a transient fault heals).
 *
 * <p><b>Eviction.</b> {@link EvictionPolicy#LRU} or {@link EvictionPolicy#LFU} (use counts that survive eviction,
 * halved every {@code 8 x experts} uses). Prefetched experts not yet used are evicted last
 * within the step they were read for, and like any other expert after it.
 *
 * <p><b>Prefetch.</b> When layer l's FFN input is known ({@link #ffnInput}, called by the model), the model's own
 * routing ({@link ExpertRouting}: layer l+1's FFN norm, router and selection, biases and expert groups included)
 * is applied to the current hidden state as if it were layer l+1's input; the experts it chooses (by votes over the
 * step's tokens) are read into free or evictable slots, issued right after layer l's own misses. A wrong guess
 * costs a read and shows in the counters, never in the results.
 */
public final class ExpertStore implements AutoCloseable {
    private static final System.Logger LOG = System.getLogger(ExpertStore.class.getName());
    private static final byte EMPTY = 0, LOADING = 1, READY = 2, FAILED = 3;

    /**
     * What the store needs of one MoE layer: where its expert matrices are in the file(s), and (nullable) the
     * memory-mapped experts whose small per-expert biases and scales stay resident.
     */
    public record LayerSpec(int layer, ExpertSlice gate, ExpertSlice up, ExpertSlice down, ExpertWeights residentExtras) {}

    /** One file experts are read from, as it was when the store opened it. */
    private record Source(Path file, long size, FileTime modified, ExpertReader reader) {}

    /** The first file (for messages: the model). */
    private final Path file;
    private final Map<Path, Source> sources = new LinkedHashMap<>();
    private final int align;
    private final ExpertRouting routing;
    private final EvictionPolicy policy;
    private final boolean prefetchOn;
    private final long budgetBytes, slotBytes, totalExpertBytes;
    private final int slots;
    private final Arena arena;
    private final MemorySegment[] slotMemory;
    private final CachedLayer[] byModelLayer;
    private final CachedLayer[] layers;
    private final ThreadPoolExecutor io;
    private final long agingPeriod;

    // slot table, guarded by this
    private final byte[] state;
    private final int[] pins, slotExpert;
    private final CachedLayer[] slotLayer;
    private final long[] lastUse, prefetchStep;
    private final boolean[] prefetched;
    private final Load[] loading;
    private final Throwable[] slotError;
    private long tick, accesses, loadSeq, busySince, busyNanos;
    /** Forward steps begun (counted at the first layer's FFN input): a prefetch is protected within its step. */
    private long step;
    /** Position (in {@link #layers}) of the layer that acquired last. */
    private int currentPos;
    private int inFlight, usedSlots;
    private Thread[] holderThread = new Thread[4];
    private int[] holderPins = new int[4];
    private boolean closed;

    private final AtomicLong tokens = new AtomicLong();

    // prefetch state, used by the forward thread (issued under the lock)
    private int[] predicted = new int[0], votes = new int[0], pendingIds = new int[0];
    private int pendingAfter = -1, pendingCount;
    private CachedLayer pendingLayer;

    /**
     * Builds the store for {@code specs}, reading each expert from the file of its tensor; {@code routing} (nullable:
     * no prefetch) predicts the next layer's experts. Fails when the budget is below one slot.
     */
    public ExpertStore(List<LayerSpec> specs, ExpertRouting routing, ExpertStoreConfig cfg) {
        if (specs.isEmpty()) throw new IllegalArgumentException("no MoE layers to serve from an expert store");
        this.file = specs.get(0).gate().file();
        this.policy = cfg.policy();
        this.prefetchOn = cfg.prefetch() && routing != null;
        this.routing = routing;
        int alignment = 1;
        try {
            for (LayerSpec s : specs)
                for (ExpertSlice x : new ExpertSlice[] {s.gate(), s.up(), s.down()}) {
                    if (sources.containsKey(x.file())) continue;
                    BasicFileAttributes a = Files.readAttributes(x.file(), BasicFileAttributes.class);
                    ExpertReader r = cfg.readers().open(x.file());
                    sources.put(x.file(), new Source(x.file(), a.size(), a.lastModifiedTime(), r));
                    alignment = Math.max(alignment, r.alignment()); // powers of two: the largest suits every file
                }
        } catch (IOException e) {
            closeReaders();
            throw new IllegalArgumentException("cannot open " + file + " for expert reads: " + e.getMessage(), e);
        }
        align = alignment;

        int maxLayer = 0;
        for (LayerSpec s : specs) maxLayer = Math.max(maxLayer, s.layer());
        byModelLayer = new CachedLayer[maxLayer + 1];
        layers = new CachedLayer[specs.size()];
        long maxSlot = 0, total = 0;
        int experts = 0;
        for (int i = 0; i < layers.length; i++) {
            CachedLayer l = new CachedLayer(specs.get(i), i);
            layers[i] = l;
            byModelLayer[l.index] = l;
            maxSlot = Math.max(maxSlot, l.slotBytes);
            total += l.nExpert * l.bytesPerExpert;
            experts += l.nExpert;
        }
        totalExpertBytes = total;
        slotBytes = roundUp(maxSlot, Math.max(align, 64));
        budgetBytes = ExpertCacheBudget.parse(cfg.budget(), total);
        long fit = budgetBytes / slotBytes;
        if (fit < 1) {
            closeReaders();
            throw new IllegalArgumentException("--expert-cache " + cfg.budget() + " (" + budgetBytes + " bytes) is smaller than one expert slot of "
                    + slotBytes + " bytes; the smallest budget is one slot (" + slotBytes + " bytes)");
        }
        slots = (int) Math.min(fit, experts);
        agingPeriod = 8L * experts;

        arena = Arena.ofShared();
        MemorySegment slab = arena.allocate(slots * slotBytes, Math.max(align, 64));
        slotMemory = new MemorySegment[slots];
        for (int s = 0; s < slots; s++) slotMemory[s] = slab.asSlice(s * slotBytes, slotBytes);
        state = new byte[slots];
        pins = new int[slots];
        slotExpert = new int[slots];
        slotLayer = new CachedLayer[slots];
        lastUse = new long[slots];
        prefetchStep = new long[slots];
        prefetched = new boolean[slots];
        loading = new Load[slots];
        slotError = new Throwable[slots];

        AtomicInteger n = new AtomicInteger();
        io = new ThreadPoolExecutor(cfg.ioThreads(), cfg.ioThreads(), 0, TimeUnit.MILLISECONDS, new PriorityBlockingQueue<>(), r -> {
            Thread t = new Thread(r, "moeflow-expert-io-" + n.incrementAndGet());
            t.setDaemon(true);
            return t;
        });
    }

    /** The experts of model layer {@code layer}, served from this store. */
    public ExpertWeights layer(int layer) {
        CachedLayer l = layer >= 0 && layer < byModelLayer.length ? byModelLayer[layer] : null;
        if (l == null) throw new IllegalArgumentException("layer " + layer + " has no routed experts in this store");
        return l;
    }

    public int slots() { return slots; }

    public long slotBytes() { return slotBytes; }

    public long budgetBytes() { return budgetBytes; }

    /** Bytes of all routed experts in the file (what 100% of the budget means). */
    public long totalExpertBytes() { return totalExpertBytes; }

    /** Off-heap bytes the cache holds: {@code slots * slotBytes}, never above the budget. */
    public long allocatedBytes() { return slots * slotBytes; }

    /** Slots that hold an expert or a read in flight (the cache's own accounting). */
    public synchronized int usedSlots() { return usedSlots; }

    /** Whether reads bypass the page cache (O_DIRECT). */
    public boolean directIo() { return align > 1; }

    // ---- the step protocol

    /** Pins experts {@code ids[from .. from+n)}, starting reads for the missing ones (the caller holds the lock). */
    private void pin(CachedLayer l, int[] ids, int from, int n) {
        int mine = 0;
        ensureOpen();
        currentPos = l.pos;
        try {
            for (; mine < n; mine++) {
                int e = ids[from + mine];
                if (e < 0 || e >= l.nExpert) throw new IllegalArgumentException("expert " + e + " is out of range 0.." + (l.nExpert - 1) + " in layer " + l.index);
                countUse(l, e);
                int s = l.slotOf[e];
                if (s < 0) {
                    s = victim(mine, l);
                    assign(s, l, e);
                    startLoad(s, true);
                    l.misses++;
                } else if (state[s] == FAILED) {
                    startLoad(s, true); // the previous read failed: this step tries again
                    l.misses++;
                } else {
                    l.hits++;
                    if (state[s] == LOADING) promote(loading[s]);
                }
                if (prefetched[s]) {
                    prefetched[s] = false;
                    l.prefetchUseful++;
                }
                pins[s]++;
                holderPins[holder(Thread.currentThread())]++;
                lastUse[s] = ++tick;
            }
        } catch (RuntimeException ex) {
            unpin(l, ids, from, mine);
            throw ex;
        }
        if (pendingAfter == l.index) issuePendingPrefetch();
    }

    /** See {@link ExpertWeights#request}; waiting here for a free slot counts as I/O wait. */
    private synchronized void request(CachedLayer l, int[] ids, int from, int n) {
        long t0 = System.nanoTime();
        try {
            pin(l, ids, from, n);
        } finally {
            l.waitNanos += System.nanoTime() - t0;
        }
    }

    /**
     * See {@link ExpertWeights#ready}: moves the READY experts of the range to its front, keeping the order of both
     * parts (so a failure names the failed experts in the order they were asked for); pins stay on failure.
     */
    private int ready(CachedLayer l, int[] ids, int from, int n) {
        long t0 = System.nanoTime();
        synchronized (this) {
            try {
                while (true) {
                    if (closed) throw new IllegalStateException("the expert store of " + file + " was closed");
                    int k = 0, pending = 0;
                    for (int i = 0; i < n; i++) {
                        int e = ids[from + i], s = l.slotOf[e];
                        if (state[s] == LOADING) pending++;
                        else if (state[s] == READY) {
                            System.arraycopy(ids, from + k, ids, from + k + 1, i - k);
                            ids[from + k++] = e;
                        }
                    }
                    if (k > 0) return k;
                    if (pending == 0) break; // only failed reads remain
                    wait();
                }
            } catch (InterruptedException ex) {
                Thread.currentThread().interrupt();
                throw new IllegalStateException("interrupted while waiting for experts of layer " + l.index, ex);
            } finally {
                l.waitNanos += System.nanoTime() - t0;
            }
            Throwable failure = slotError[l.slotOf[ids[from]]];
            if (failure == null) failure = new java.io.IOException("read failed");
            Path failed = failure instanceof ReadFailure rf ? rf.file : l.slices[0].file();
            throw new ExpertReadException(l.index, java.util.Arrays.copyOfRange(ids, from, from + n), failed, failure.getMessage(), failure);
        }
    }

    /** {@link #request} and {@link #ready} until all are readable; on a failure unpins them itself. */
    private void acquire(CachedLayer l, int[] ids, int from, int n) {
        request(l, ids, from, n);
        try {
            for (int done = 0; done < n; ) done += ready(l, ids, from + done, n - done);
        } catch (RuntimeException e) {
            release(l, ids, from, n); // a failed slot is dropped with its last pin: the next acquire reads again
            throw e;
        }
    }

    private synchronized void release(CachedLayer l, int[] ids, int from, int n) {
        unpin(l, ids, from, n);
    }

    private void unpin(CachedLayer l, int[] ids, int from, int n) {
        boolean freed = false;
        int h = holder(Thread.currentThread());
        for (int i = 0; i < n; i++) {
            int s = l.slotOf[ids[from + i]];
            if (s < 0 || pins[s] == 0) continue;
            if (holderPins[h] > 0) holderPins[h]--;
            if (--pins[s] == 0) {
                freed = true;
                if (state[s] == FAILED) clear(s);
            }
        }
        if (freed) notifyAll();
    }

    /**
     * Index of {@code t} among the threads holding pins (few: the forward thread, tests' extra callers); entries
     * of threads without pins are reused, so this allocates only when more threads hold pins than ever before.
     */
    private int holder(Thread t) {
        int free = -1;
        for (int i = 0; i < holderThread.length; i++) {
            if (holderThread[i] == t) return i;
            if (free < 0 && (holderThread[i] == null || holderPins[i] == 0)) free = i;
        }
        if (free < 0) {
            free = holderThread.length;
            holderThread = java.util.Arrays.copyOf(holderThread, free * 2);
            holderPins = java.util.Arrays.copyOf(holderPins, free * 2);
        }
        holderThread[free] = t;
        holderPins[free] = 0;
        return free;
    }

    /** A slot to reuse: empty first, else the policy's choice among unpinned, settled slots; waits for reads in flight. */
    private int victim(int pinnedByCaller, CachedLayer l) {
        while (true) {
            int s = pickVictim(true);
            if (s >= 0) return s;
            boolean othersMayFree = false;
            long pinned = 0;
            for (int i = 0; i < slots; i++) {
                othersMayFree |= state[i] == LOADING && pins[i] == 0;
                pinned += pins[i];
            }
            // nothing in flight and no other thread's pins: waiting would never end
            if (!othersMayFree && pinned <= holderPins[holder(Thread.currentThread())])
                throw new IllegalStateException("expert cache of " + slots + " slots cannot hold " + (pinnedByCaller + 1)
                        + " more experts of layer " + l.index + ": every slot is pinned by this thread (acquire at most maxAcquired() experts, release before acquiring more)");
            try {
                wait(); // a read in flight completes, or another caller releases its pins
            } catch (InterruptedException ex) {
                Thread.currentThread().interrupt();
                throw new IllegalStateException("interrupted while waiting for a free expert slot in layer " + l.index, ex);
            }
            ensureOpen();
        }
    }

    /** -1 when no slot is free or evictable; prefetched-but-unused slots only when {@code takePrefetched}. */
    private int pickVictim(boolean takePrefetched) {
        int best = -1, bestPrefetched = -1;
        for (int s = 0; s < slots; s++) {
            if (pins[s] > 0 || state[s] == LOADING) continue;
            if (state[s] == EMPTY) return s;
            if (prefetched[s] && prefetchStep[s] == step) { // protected until the step it was read for is over
                if (bestPrefetched < 0 || evictsBefore(s, bestPrefetched)) bestPrefetched = s;
            } else if (best < 0 || evictsBefore(s, best)) best = s;
        }
        return best >= 0 ? best : takePrefetched ? bestPrefetched : -1;
    }

    private boolean evictsBefore(int a, int b) {
        if (policy == EvictionPolicy.LFU) {
            int fa = slotLayer[a].freq[slotExpert[a]], fb = slotLayer[b].freq[slotExpert[b]];
            if (fa != fb) return fa < fb;
            // equally popular: the one whose layer runs last from here (steps visit the layers in a cycle)
            int da = layersUntilUse(slotLayer[a]), db = layersUntilUse(slotLayer[b]);
            if (da != db) return da > db;
        }
        return lastUse[a] < lastUse[b];
    }

    /** How many MoE layers run before {@code l} runs again, counting from the layer acquired last (1 = next). */
    private int layersUntilUse(CachedLayer l) {
        return (l.pos - currentPos - 1 + 2 * layers.length) % layers.length + 1;
    }

    private void countUse(CachedLayer l, int e) {
        if (policy != EvictionPolicy.LFU) return;
        l.freq[e]++;
        if (++accesses % agingPeriod == 0)
            for (CachedLayer c : layers) for (int i = 0; i < c.nExpert; i++) c.freq[i] >>= 1;
    }

    private void assign(int s, CachedLayer l, int e) {
        if (state[s] != EMPTY) {
            slotLayer[s].evictions++;
            clear(s);
        }
        slotLayer[s] = l;
        slotExpert[s] = e;
        l.slotOf[e] = s;
        usedSlots++;
        MemorySegment m = slotMemory[s];
        l.gate[e] = l.view(0, e, m);
        l.up[e] = l.view(1, e, m);
        l.down[e] = l.view(2, e, m);
    }

    private void clear(int s) {
        CachedLayer l = slotLayer[s];
        if (l == null) return;
        int e = slotExpert[s];
        l.slotOf[e] = -1;
        l.gate[e] = l.up[e] = l.down[e] = null;
        slotLayer[s] = null;
        slotExpert[s] = -1;
        state[s] = EMPTY;
        prefetched[s] = false;
        slotError[s] = null;
        usedSlots--;
    }

    private void startLoad(int s, boolean demand) {
        Load ld = new Load(s, slotLayer[s], slotExpert[s], demand, ++loadSeq);
        state[s] = LOADING;
        slotError[s] = null;
        loading[s] = ld;
        if (inFlight++ == 0) busySince = System.nanoTime();
        io.execute(ld);
    }

    private void promote(Load ld) {
        if (ld != null && !ld.demand && !ld.started && io.getQueue().remove(ld)) {
            ld.demand = true;
            io.execute(ld);
        }
    }

    private synchronized void finished(Load ld, long bytes, Throwable error) {
        if (--inFlight == 0) busyNanos += System.nanoTime() - busySince;
        ld.error = error;
        ld.finished = true;
        int s = ld.slot;
        if (!closed && loading[s] == ld) {
            loading[s] = null;
            if (error == null) {
                state[s] = READY;
                ld.layer.bytesRead += bytes;
                ld.layer.reads++;
            } else {
                state[s] = FAILED;
                slotError[s] = error;
                if (pins[s] == 0) clear(s);
                if (!ld.demand) LOG.log(System.Logger.Level.WARNING, "prefetch of expert " + ld.expert + " of layer " + ld.layer.index + " failed: " + error);
            }
        }
        notifyAll();
    }

    /** A failed expert read, knowing the file it was read from (one part of a split model). */
    private static final class ReadFailure extends IOException {
        final transient Path file;

        ReadFailure(Path file, String message, Throwable cause) {
            super(message, cause);
            this.file = file;
        }
    }

    /** Reads the expert's three matrices into its slot, each from the file holding it; returns the bytes read. */
    private long read(Load ld) throws IOException {
        CachedLayer l = ld.layer;
        MemorySegment m = slotMemory[ld.slot];
        long total = 0;
        Source checked = null;
        for (int i = 0; i < 3; i++) {
            Source src = sources.get(l.slices[i].file());
            if (src != checked) { // once per file and read
                BasicFileAttributes a = Files.readAttributes(src.file(), BasicFileAttributes.class);
                if (a.size() != src.size() || !a.lastModifiedTime().equals(src.modified()))
                    throw new ReadFailure(src.file(), "the model file " + src.file() + " changed since it was opened (size " + src.size() + " -> " + a.size()
                            + " bytes, modified " + src.modified() + " -> " + a.lastModifiedTime() + "); refusing to read experts from it", null);
                checked = src;
            }
            long pos = l.fileOffset(i, ld.expert), len = l.bytes[i];
            long start = pos - pos % align, end = roundUp(pos + len, align);
            long need = pos + len - start;
            long got;
            try {
                got = src.reader().read(m.asSlice(l.region[i], end - start), start);
            } catch (IOException e) {
                throw new ReadFailure(src.file(), l.slices[i].describe() + " at offset " + start + ": " + e.getMessage(), e);
            }
            if (got < need)
                throw new ReadFailure(src.file(), "short read of " + l.slices[i].describe() + ": " + got + " of " + need + " bytes at offset " + start
                        + " (file size " + src.size() + ")", null);
            total += got;
        }
        return total;
    }

    // ---- prefetch

    /**
     * Layer {@code layer}'s FFN input is known: {@code x} holds the residual stream of the step's {@code n} tokens.
     * Predicts the next layer's experts and reads them ahead (issued after this layer's own misses).
     */
    public void ffnInput(int layer, float[] x, int n) {
        if (layer == 0) {
            tokens.addAndGet(n);
            synchronized (this) {
                step++;
            }
        }
        if (!prefetchOn || layer + 1 >= byModelLayer.length || byModelLayer[layer + 1] == null) return;
        CachedLayer next = byModelLayer[layer + 1];
        int ne = next.nExpert;
        predicted = fit(predicted, n * ne);
        votes = fit(votes, ne);
        pendingIds = fit(pendingIds, ne);
        int k = routing.route(next.index, x, n, predicted);
        java.util.Arrays.fill(votes, 0, ne, 0);
        for (int i = 0; i < n * k; i++) votes[predicted[i]]++; // one vote per token and chosen expert
        // most voted first, capped at half the cache so a prefetch never flushes it
        int cap = Math.max(1, slots / 2), count = 0;
        while (count < cap) {
            int best = -1;
            for (int e = 0; e < ne; e++) if (votes[e] > 0 && (best < 0 || votes[e] > votes[best])) best = e;
            if (best < 0) break;
            votes[best] = 0;
            pendingIds[count++] = best;
        }
        synchronized (this) {
            if (closed) return;
            pendingLayer = next;
            pendingCount = count;
            pendingAfter = layer;
            // a MoE layer issues them after its own misses; otherwise now
            if (byModelLayer[layer] == null) issuePendingPrefetch();
        }
    }

    private void issuePendingPrefetch() {
        CachedLayer l = pendingLayer;
        pendingAfter = -1;
        pendingLayer = null;
        if (l != null) issuePrefetch(l, pendingIds, pendingCount);
    }

    private void issuePrefetch(CachedLayer l, int[] ids, int n) {
        for (int i = 0; i < n; i++) {
            int e = ids[i];
            if (e < 0 || e >= l.nExpert) throw new IllegalArgumentException("expert " + e + " is out of range 0.." + (l.nExpert - 1) + " in layer " + l.index);
            if (l.slotOf[e] >= 0) continue;
            int s = pickVictim(false);
            if (s < 0) break;
            assign(s, l, e);
            prefetched[s] = true;
            prefetchStep[s] = step;
            lastUse[s] = tick;
            startLoad(s, false);
            l.prefetchIssued++;
        }
    }

    /**
     * Reads experts {@code ids[0..n)} of layer {@code layer} ahead into free or evictable slots (never evicting a
     * pinned expert or another prefetch); what does not fit is skipped.
     */
    public synchronized void prefetch(int layer, int[] ids, int n) {
        ensureOpen();
        issuePrefetch((CachedLayer) layer(layer), ids, n);
    }

    // ---- metrics


    public synchronized ExpertCacheStats stats() {
        List<ExpertCacheStats.Layer> per = new ArrayList<>(layers.length);
        ExpertCacheStats.Layer total = new ExpertCacheStats.Layer(-1, 0, 0, 0, 0, 0, 0, 0, 0);
        for (CachedLayer l : layers) {
            var s = new ExpertCacheStats.Layer(l.index, l.hits, l.misses, l.bytesRead, l.reads, l.waitNanos, l.prefetchIssued, l.prefetchUseful, l.evictions);
            per.add(s);
            total = total.plus(s);
        }
        long busy = busyNanos + (inFlight > 0 ? System.nanoTime() - busySince : 0);
        return new ExpertCacheStats(policy, directIo(), budgetBytes, slotBytes, slots, usedSlots, allocatedBytes(),
                tokens.get(), busy, List.copyOf(per), total);
    }

    /**
     * The experts held in memory now (read and not failed), {@code [model layer][i]} ascending; an empty row for a
     * layer with none, null for a layer this store does not serve (dense). For the playground's expert map.
     */
    public synchronized int[][] residentExperts() {
        int[][] resident = new int[byModelLayer.length][];
        int[] count = new int[byModelLayer.length];
        for (int s = 0; s < slots; s++) if (state[s] == READY && slotLayer[s] != null) count[slotLayer[s].index]++;
        for (CachedLayer l : layers) resident[l.index] = new int[count[l.index]];
        Arrays.fill(count, 0);
        for (int s = 0; s < slots; s++)
            if (state[s] == READY && slotLayer[s] != null) resident[slotLayer[s].index][count[slotLayer[s].index]++] = slotExpert[s];
        for (int[] row : resident) if (row != null) Arrays.sort(row);
        return resident;
    }

    /** Zeroes the counters (the cached experts stay). */
    public synchronized void resetStats() {
        for (CachedLayer l : layers) l.hits = l.misses = l.bytesRead = l.reads = l.waitNanos = l.prefetchIssued = l.prefetchUseful = l.evictions = 0;
        busyNanos = 0;
        if (inFlight > 0) busySince = System.nanoTime();
        tokens.set(0);
    }

    @Override
    public void close() {
        synchronized (this) {
            if (closed) return;
            closed = true;
            notifyAll();
        }
        io.shutdownNow();
        try {
            if (!io.awaitTermination(30, TimeUnit.SECONDS)) LOG.log(System.Logger.Level.WARNING, "expert reads did not stop within 30 s");
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        closeReaders();
        arena.close();
    }

    private void ensureOpen() {
        if (closed) throw new IllegalStateException("the expert store of " + file + " is closed");
    }

    private void closeReaders() {
        for (Source src : sources.values()) {
            try {
                src.reader().close();
            } catch (IOException e) {
                LOG.log(System.Logger.Level.WARNING, "closing the expert reader of " + src.file() + " failed: " + e);
            }
        }
    }

    private static int[] fit(int[] buf, int n) {
        return buf.length >= n ? buf : new int[Math.max(n, buf.length + buf.length / 2)];
    }

    private static long roundUp(long v, long a) {
        return (v + a - 1) / a * a;
    }

    /** One expert read; demand reads run before prefetches, then in issue order. */
    private final class Load implements Runnable, Comparable<Load> {
        final int slot, expert;
        final CachedLayer layer;
        final long seq;
        volatile boolean demand, started;
        boolean finished;
        Throwable error;

        Load(int slot, CachedLayer layer, int expert, boolean demand, long seq) {
            this.slot = slot;
            this.layer = layer;
            this.expert = expert;
            this.demand = demand;
            this.seq = seq;
        }

        @Override
        public void run() {
            started = true;
            long bytes = 0;
            Throwable error = null;
            try {
                bytes = read(this);
            } catch (Throwable t) {
                error = t;
            }
            finished(this, bytes, error);
        }

        @Override
        public int compareTo(Load o) {
            if (demand != o.demand) return demand ? -1 : 1;
            return Long.compare(seq, o.seq);
        }
    }

    /** One MoE layer's experts as the model sees them; views are valid while acquired. */
    private final class CachedLayer implements ExpertWeights {
        final int index, pos, nExpert;
        final ExpertSlice[] slices;
        final long[] bytes = new long[3], region = new long[3];
        final long bytesPerExpert, slotBytes;
        final int[] slotOf, freq;
        final QMatrix[] gate, up, down;
        final ExpertWeights extras;
        long hits, misses, bytesRead, reads, waitNanos, prefetchIssued, prefetchUseful, evictions;

        CachedLayer(LayerSpec s, int pos) {
            this.pos = pos;
            index = s.layer();
            slices = new ExpertSlice[] {s.gate(), s.up(), s.down()};
            nExpert = s.gate().experts();
            for (ExpertSlice x : slices)
                if (x.experts() != nExpert)
                    throw new IllegalArgumentException("expert tensor " + x.tensor() + " does not hold " + nExpert + " experts");
            long off = 0, per = 0;
            for (int i = 0; i < 3; i++) {
                bytes[i] = slices[i].bytes();
                per += bytes[i];
                region[i] = off;
                // under O_DIRECT a matrix needs the aligned range around it: up to one block more
                off += align > 1 ? roundUp(bytes[i], align) + align : roundUp(bytes[i], 64);
            }
            bytesPerExpert = per;
            slotBytes = off;
            slotOf = new int[nExpert];
            java.util.Arrays.fill(slotOf, -1);
            freq = new int[nExpert];
            gate = new QMatrix[nExpert];
            up = new QMatrix[nExpert];
            down = new QMatrix[nExpert];
            extras = s.residentExtras();
        }

        long fileOffset(int matrix, int e) {
            return slices[matrix].fileOffset(e);
        }

        QMatrix view(int matrix, int e, MemorySegment slot) {
            ExpertSlice x = slices[matrix];
            long pos = fileOffset(matrix, e);
            return new QMatrix(x.tensor().type(), slot, region[matrix] + pos % align, x.cols(), x.rows());
        }

        private QMatrix held(QMatrix q, int e) {
            if (q == null) throw new IllegalStateException("expert " + e + " of layer " + index + " is not acquired");
            return q;
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

        @Override public int maxAcquired() { return slots; }

        @Override public void acquire(int[] ids, int from, int n) { ExpertStore.this.acquire(this, ids, from, n); }

        @Override public void release(int[] ids, int from, int n) { ExpertStore.this.release(this, ids, from, n); }

        @Override public void request(int[] ids, int from, int n) { ExpertStore.this.request(this, ids, from, n); }

        @Override public int ready(int[] ids, int from, int n) { return ExpertStore.this.ready(this, ids, from, n); }
    }
}
