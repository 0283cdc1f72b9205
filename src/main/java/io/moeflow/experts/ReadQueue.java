package io.moeflow.experts;

import java.util.concurrent.PriorityBlockingQueue;
import java.util.concurrent.ThreadPoolExecutor;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * The I/O threads of an expert store and their queue: demand reads run before prefetches, each kind in the order
 * issued, and a queued prefetch that a step now needs is promoted to a demand read.
 *
 * <p>Locking: thread-safe by itself (the executor's queue); a {@link Load}'s flags are volatile because the I/O
 * thread and the promoting caller both touch them. What a read finishes is reported to the store, which applies it
 * under its own lock.
 */
final class ReadQueue {
    private static final System.Logger LOG = System.getLogger(ReadQueue.class.getName());

    /** Where a finished read goes (the store, under its lock). */
    interface Done {
        void finished(Load load, long bytes, Throwable error);
    }

    /** What a read does (the store's read of one expert into its slot); returns the bytes read. */
    interface Reader {
        long read(Load load) throws Exception;
    }

    private final ThreadPoolExecutor io;
    private final Reader reader;
    private final Done done;
    private long seq;

    ReadQueue(int threads, Reader reader, Done done) {
        this.reader = reader;
        this.done = done;
        AtomicInteger n = new AtomicInteger();
        io = new ThreadPoolExecutor(threads, threads, 0, TimeUnit.MILLISECONDS, new PriorityBlockingQueue<>(), r -> {
            Thread t = new Thread(r, "moeflow-expert-io-" + n.incrementAndGet());
            t.setDaemon(true);
            return t;
        });
    }

    /** Queues a read of {@code expert} of {@code layer} into {@code slot}; the caller holds the store's lock. */
    Load submit(int slot, CachedLayer layer, int expert, boolean demand) {
        Load ld = new Load(slot, layer, expert, demand, ++seq);
        io.execute(ld);
        return ld;
    }

    /** A step needs {@code ld} now: a prefetch still queued goes before the other prefetches. */
    void promote(Load ld) {
        if (ld != null && !ld.demand && !ld.started && io.getQueue().remove(ld)) {
            ld.demand = true;
            io.execute(ld);
        }
    }

    /** Stops the threads, interrupting reads in flight, and waits for them. */
    void shutdown() {
        io.shutdownNow();
        try {
            if (!io.awaitTermination(30, TimeUnit.SECONDS)) LOG.log(System.Logger.Level.WARNING, "expert reads did not stop within 30 s");
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    /** One expert read; demand reads run before prefetches, then in issue order. */
    final class Load implements Runnable, Comparable<Load> {
        final int slot, expert;
        final CachedLayer layer;
        final long seq;
        volatile boolean demand, started;

        private Load(int slot, CachedLayer layer, int expert, boolean demand, long seq) {
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
                bytes = reader.read(this);
            } catch (Throwable t) {
                error = t;
            }
            done.finished(this, bytes, error);
        }

        @Override
        public int compareTo(Load o) {
            if (demand != o.demand) return demand ? -1 : 1;
            return Long.compare(seq, o.seq);
        }
    }
}
