package io.moeflow.experts;

import static io.moeflow.experts.SlotTable.FAILED;
import static io.moeflow.experts.SlotTable.LOADING;
import static io.moeflow.experts.SlotTable.READY;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * A RAM-budgeted cache of a model's routed experts (the {@code budgeted} expert mode); everything else of the
 * model stays memory-mapped. This class runs the step protocol and wires the parts, each with one job:
 * {@link ExpertSlab} (the memory: fixed slots of one off-heap allocation), {@link SlotTable} (what each slot holds
 * and which one to reuse, ranked by {@link EvictionOrder}), {@link PinHolders} (whose pins block a wait),
 * {@link ReadQueue} (the I/O threads, demand reads first), {@link ExpertFiles} (the readers and the file-change
 * guard), {@link PrefetchPlanner} (which experts to read ahead) and {@link CachedLayer} (one layer's views and
 * counters).
 *
 * <p><b>Locking.</b> One lock, this store's monitor, guards the slot table, the eviction order, the pins, the
 * layers' slot maps and counters and the prefetch hand-off; waits (for a read, for a free slot) are waits on it.
 * Outside it run only the reads themselves ({@link ExpertFiles}, no shared state), the prefetch planning (confined
 * to the forward thread) and the use of views between {@code ready} and {@code release}.
 *
 * <p><b>A step.</b> After routing a layer, the MoE block {@link ExpertWeights#request requests} the experts it
 * will run: under the lock, hits are pinned, and every miss of the layer gets a victim slot and a read on the
 * I/O pool, all issued together before anything waits (batch-aware reads: one read serves every token routed to
 * the expert). {@link ExpertWeights#ready} then hands out the experts already in memory first and waits only when
 * none is; {@link ExpertWeights#release} ends the use. A miss on an expert whose read is already in flight (a
 * prefetch, another caller) waits for that read: every expert is read once. Pinned experts are never evicted;
 * when the active set is larger than the cache, the MoE block works in waves of {@link ExpertWeights#maxAcquired()}
 * experts, so one slot is enough to run any model.
 *
 * <p><b>Reads.</b> A failed or short read, or a file changed since it was opened, fails the request with an
 * {@link ExpertReadException} naming layer, the failed experts, tensor and file; the slot is dropped and the
 * next request reads it again (a transient fault heals).
 *
 * <p><b>Prefetch.</b> When layer l's FFN input is known ({@link #ffnInput}, called by the model), the experts
 * the model's routing would choose for layer l+1 are read into free or evictable slots, issued right after layer
 * l's own misses. A wrong guess costs a read and shows in the counters, never in the results.
 */
public final class ExpertStore implements AutoCloseable {
    private static final System.Logger LOG = System.getLogger(ExpertStore.class.getName());

    /**
     * What the store needs of one MoE layer: where its expert matrices are in the file(s), and (nullable) the
     * memory-mapped experts whose small per-expert biases and scales stay resident.
     */
    public record LayerSpec(int layer, ExpertSlice gate, ExpertSlice up, ExpertSlice down, ExpertWeights residentExtras) {}

    /** The first file (for messages: the model). */
    private final Path file;
    private final ExpertFiles files;
    private final boolean prefetchOn;
    private final long budgetBytes, slotBytes, totalExpertBytes;
    private final int slots;
    private final ExpertSlab slab;
    private final CachedLayer[] byModelLayer;
    private final CachedLayer[] layers;
    private final ReadQueue io;
    private final PrefetchPlanner planner;

    // guarded by this
    private final SlotTable table;
    private final EvictionOrder order;
    private final PinHolders holders = new PinHolders();
    private long tokens, busySince, busyNanos;
    private int inFlight;
    /** Forward steps begun (counted at the first layer's FFN input): a prefetch is protected within its step. */
    private long step;
    /** The planned prefetch of {@code pendingLayer}, issued after layer {@code pendingAfter}'s own misses. */
    private int pendingAfter = -1, pendingCount;
    private CachedLayer pendingLayer;
    private boolean closed;

    /**
     * Builds the store for {@code specs}, reading each expert from the file of its tensor; {@code routing} (nullable:
     * no prefetch) predicts the next layer's experts. Fails when the budget is below one slot.
     */
    public ExpertStore(List<LayerSpec> specs, ExpertRouting routing, ExpertStoreConfig cfg) {
        if (specs.isEmpty()) throw new IllegalArgumentException("no MoE layers to serve from an expert store");
        this.file = specs.get(0).gate().file();
        this.prefetchOn = cfg.prefetch() && routing != null;
        this.planner = new PrefetchPlanner(routing);
        files = new ExpertFiles(specs, cfg.readers());
        int align = files.alignment();

        int maxLayer = 0;
        for (LayerSpec s : specs) maxLayer = Math.max(maxLayer, s.layer());
        byModelLayer = new CachedLayer[maxLayer + 1];
        layers = new CachedLayer[specs.size()];
        long maxSlot = 0, total = 0;
        int experts = 0;
        for (int i = 0; i < layers.length; i++) {
            CachedLayer l = new CachedLayer(this, specs.get(i), i, align);
            layers[i] = l;
            byModelLayer[l.index] = l;
            maxSlot = Math.max(maxSlot, l.slotBytes());
            total += l.nExpert * l.bytesPerExpert();
            experts += l.nExpert;
        }
        totalExpertBytes = total;
        slotBytes = ExpertFiles.roundUp(maxSlot, Math.max(align, 64));
        budgetBytes = ExpertCacheBudget.parse(cfg.budget(), total);
        long fit = budgetBytes / slotBytes;
        if (fit < 1) {
            files.close();
            throw new IllegalArgumentException("--expert-cache " + cfg.budget() + " (" + budgetBytes + " bytes) is smaller than one expert slot of "
                    + slotBytes + " bytes; the smallest budget is one slot (" + slotBytes + " bytes)");
        }
        slots = (int) Math.min(fit, experts);
        slab = new ExpertSlab(slots, slotBytes, Math.max(align, 64));
        order = new EvictionOrder(cfg.policy(), layers);
        table = new SlotTable(slots, slab, order);
        io = new ReadQueue(cfg.ioThreads(), ld -> files.read(ld.layer, ld.expert, slab.slot(ld.slot)), this::finished);
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
    public synchronized int usedSlots() { return table.used(); }

    /** Whether reads bypass the page cache (O_DIRECT). */
    public boolean directIo() { return files.alignment() > 1; }

    // ---- the step protocol (CachedLayer's request, ready, release)

    /** See {@link ExpertWeights#request}; waiting here for a free slot counts as I/O wait. */
    synchronized void request(CachedLayer l, int[] ids, int from, int n) {
        long t0 = System.nanoTime();
        try {
            pin(l, ids, from, n);
        } finally {
            l.counters.waitNanos += System.nanoTime() - t0;
        }
    }

    /** Pins experts {@code ids[from .. from+n)}, starting reads for the missing ones (the caller holds the lock). */
    private void pin(CachedLayer l, int[] ids, int from, int n) {
        int mine = 0;
        ensureOpen();
        order.enter(l);
        int holder = holders.of(Thread.currentThread());
        try {
            for (; mine < n; mine++) {
                int e = ids[from + mine];
                l.checkExpert(e);
                order.countUse(l, e);
                int s = l.slotOf[e];
                if (s < 0) {
                    s = victim(mine, l, holder);
                    table.assign(s, l, e);
                    startLoad(s, l, e, true);
                    l.counters.misses++;
                } else if (table.state[s] == FAILED) {
                    startLoad(s, l, e, true); // the previous read failed: this step tries again
                    l.counters.misses++;
                } else {
                    l.counters.hits++;
                    if (table.state[s] == LOADING) io.promote(table.loading[s]);
                }
                if (table.prefetched[s]) {
                    table.prefetched[s] = false;
                    l.counters.prefetchUseful++;
                }
                table.pins[s]++;
                holders.pinned(holder);
                table.touch(s);
            }
        } catch (RuntimeException ex) {
            unpin(l, ids, from, mine);
            throw ex;
        }
        if (pendingAfter == l.index) issuePendingPrefetch();
    }

    /**
     * See {@link ExpertWeights#ready}: moves the READY experts of the range to its front, keeping the order of both
     * parts (so a failure names the failed experts in the order they were asked for); pins stay on failure.
     */
    int ready(CachedLayer l, int[] ids, int from, int n) {
        long t0 = System.nanoTime();
        synchronized (this) {
            try {
                while (true) {
                    if (closed) throw new IllegalStateException("the expert store of " + file + " was closed");
                    int k = 0, pending = 0;
                    for (int i = 0; i < n; i++) {
                        int e = ids[from + i];
                        byte st = table.state[l.slotOf[e]];
                        if (st == LOADING) pending++;
                        else if (st == READY) {
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
                l.counters.waitNanos += System.nanoTime() - t0;
            }
            Throwable failure = table.error[l.slotOf[ids[from]]];
            if (failure == null) failure = new java.io.IOException("read failed");
            Path failed = failure instanceof ExpertFiles.ReadFailure rf ? rf.file : l.slice(0).file();
            throw new ExpertReadException(l.index, java.util.Arrays.copyOfRange(ids, from, from + n), failed, failure.getMessage(), failure);
        }
    }

    synchronized void release(CachedLayer l, int[] ids, int from, int n) {
        unpin(l, ids, from, n);
    }

    private void unpin(CachedLayer l, int[] ids, int from, int n) {
        boolean freed = false;
        int h = holders.of(Thread.currentThread());
        for (int i = 0; i < n; i++) {
            int s = l.slotOf[ids[from + i]];
            if (s < 0 || table.pins[s] == 0) continue;
            holders.unpinned(h);
            if (--table.pins[s] == 0) {
                freed = true;
                if (table.state[s] == FAILED) table.clear(s); // dropped with its last pin: the next request reads again
            }
        }
        if (freed) notifyAll();
    }

    /** A slot to reuse: empty first, else the policy's choice among unpinned, settled slots; waits for reads in flight. */
    private int victim(int pinnedByCaller, CachedLayer l, int holder) {
        while (true) {
            int s = table.pickVictim(true, step);
            if (s >= 0) return s;
            // nothing in flight and no other thread's pins: waiting would never end
            if (!table.readsMayFreeASlot() && table.totalPins() <= holders.pins(holder))
                throw new IllegalStateException("expert cache of " + slots + " slots cannot hold " + (pinnedByCaller + 1)
                        + " more experts of layer " + l.index + ": every slot is pinned by this thread (request at most maxAcquired() experts, release before requesting more)");
            try {
                wait(); // a read in flight completes, or another caller releases its pins
            } catch (InterruptedException ex) {
                Thread.currentThread().interrupt();
                throw new IllegalStateException("interrupted while waiting for a free expert slot in layer " + l.index, ex);
            }
            ensureOpen();
        }
    }

    /** Starts the read of expert {@code e} of {@code l} into slot {@code s}, which it is assigned to. */
    private void startLoad(int s, CachedLayer l, int e, boolean demand) {
        table.state[s] = LOADING;
        table.error[s] = null;
        if (inFlight++ == 0) busySince = System.nanoTime();
        table.loading[s] = io.submit(s, l, e, demand);
    }

    private synchronized void finished(ReadQueue.Load ld, long bytes, Throwable error) {
        if (--inFlight == 0) busyNanos += System.nanoTime() - busySince;
        int s = ld.slot;
        if (!closed && table.loading[s] == ld) {
            table.loading[s] = null;
            if (error == null) {
                table.state[s] = READY;
                ld.layer.counters.bytesRead += bytes;
                ld.layer.counters.reads++;
            } else {
                table.state[s] = FAILED;
                table.error[s] = error;
                if (table.pins[s] == 0) table.clear(s);
                if (!ld.demand) LOG.log(System.Logger.Level.WARNING, "prefetch of expert " + ld.expert + " of layer " + ld.layer.index + " failed: " + error);
            }
        }
        notifyAll();
    }

    // ---- prefetch

    /**
     * Layer {@code layer}'s FFN input is known: {@code x} holds the residual stream of the step's {@code n} tokens.
     * Predicts the next layer's experts and reads them ahead (issued after this layer's own misses).
     */
    public void ffnInput(int layer, float[] x, int n) {
        if (layer == 0) {
            synchronized (this) {
                step++;
                tokens += n;
            }
        }
        if (!prefetchOn || layer + 1 >= byModelLayer.length || byModelLayer[layer + 1] == null) return;
        CachedLayer next = byModelLayer[layer + 1];
        // capped at half the cache so a prefetch never flushes it
        int count = planner.plan(next, x, n, Math.max(1, slots / 2));
        synchronized (this) {
            if (closed) return;
            pendingLayer = next;
            pendingCount = count;
            pendingAfter = layer;
            // a MoE layer issues them after its own misses; otherwise now
            if (byModelLayer[layer] == null) issuePendingPrefetch();
        }
    }

    /** Reads the planned experts into free or evictable slots (never a pinned one or another prefetch); what does not fit is skipped. */
    private void issuePendingPrefetch() {
        CachedLayer l = pendingLayer;
        pendingAfter = -1;
        pendingLayer = null;
        if (l == null) return;
        int[] ids = planner.ids();
        for (int i = 0; i < pendingCount; i++) {
            int e = ids[i];
            if (l.slotOf[e] >= 0) continue;
            int s = table.pickVictim(false, step);
            if (s < 0) break;
            table.assign(s, l, e);
            table.markPrefetched(s, step);
            startLoad(s, l, e, false);
            l.counters.prefetchIssued++;
        }
    }

    // ---- metrics

    public synchronized ExpertCacheStats stats() {
        List<ExpertCacheStats.Layer> per = new ArrayList<>(layers.length);
        ExpertCacheStats.Layer total = new ExpertCacheStats.Layer(-1, 0, 0, 0, 0, 0, 0, 0, 0);
        for (CachedLayer l : layers) {
            var s = l.counters.snapshot(l.index);
            per.add(s);
            total = total.plus(s);
        }
        long busy = busyNanos + (inFlight > 0 ? System.nanoTime() - busySince : 0);
        return new ExpertCacheStats(order.policy(), directIo(), budgetBytes, slotBytes, slots, table.used(), allocatedBytes(),
                tokens, busy, List.copyOf(per), total);
    }

    /**
     * The experts held in memory now (read and not failed), {@code [model layer][i]} ascending; an empty row for a
     * layer with none, null for a layer this store does not serve (dense). For the playground's expert map.
     */
    public synchronized int[][] residentExperts() {
        int[][] resident = new int[byModelLayer.length][];
        for (CachedLayer l : layers) {
            int[] row = new int[l.nExpert];
            int n = 0;
            for (int e = 0; e < l.nExpert; e++) {
                int s = l.slotOf[e];
                if (s >= 0 && table.state[s] == READY) row[n++] = e;
            }
            resident[l.index] = java.util.Arrays.copyOf(row, n);
        }
        return resident;
    }

    @Override
    public void close() {
        synchronized (this) {
            if (closed) return;
            closed = true;
            notifyAll();
        }
        io.shutdown();
        files.close();
        slab.close();
    }

    private void ensureOpen() {
        if (closed) throw new IllegalStateException("the expert store of " + file + " is closed");
    }
}
