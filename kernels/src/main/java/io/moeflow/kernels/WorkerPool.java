package io.moeflow.kernels;

import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.locks.LockSupport;

/**
 * A fixed pool of compute threads that run numbered chunks of one task at a time. The calling thread
 * works too, so a pool of size 1 has no extra thread. Workers spin briefly between tasks (decode steps
 * issue thousands of small tasks per second) and then park. Nothing is allocated per call.
 */
public final class WorkerPool implements AutoCloseable {
    /** One chunk of work; implementations are reused across calls. */
    public interface Task {
        void run(int chunk);
    }

    private static final int SPINS = 4_000;
    private static final long CLOSED = 0xFFFF_FFFFL;

    private final Thread[] workers;
    /** (generation << 32) | next chunk index; a chunk is claimed by CAS only while its generation is current. */
    private final AtomicLong ticket = new AtomicLong(CLOSED);
    private final AtomicInteger pending = new AtomicInteger();
    private volatile Task task;
    private volatile int chunks;
    private volatile int generation;
    private volatile boolean closed;
    private volatile Throwable failure;
    private final MatMulTask matMulTask = new MatMulTask();

    public WorkerPool(int threads) {
        if (threads < 1) throw new IllegalArgumentException("threads must be >= 1, got " + threads);
        workers = new Thread[threads - 1];
        for (int i = 0; i < workers.length; i++) {
            Thread t = new Thread(this::workerLoop, "moeflow-compute-" + (i + 1));
            t.setDaemon(true);
            workers[i] = t;
            t.start();
        }
    }

    /** Threads that compute, the caller included. */
    public int threads() {
        return workers.length + 1;
    }

    /** Runs {@code task.run(i)} for every {@code 0 <= i < n}, spread over the pool; returns when all are done. */
    public synchronized void run(int n, Task t) {
        if (n <= 0) return;
        if (workers.length == 0 || n == 1) {
            for (int i = 0; i < n; i++) t.run(i);
            return;
        }
        int g = generation + 1;
        // Close the ticket of the new generation before publishing its task, so no worker can pair a stale
        // generation's claim with the new task (or the reverse).
        ticket.set(((long) g << 32) | CLOSED);
        failure = null;
        task = t;
        chunks = n;
        pending.set(n);
        ticket.set((long) g << 32);
        generation = g;
        for (Thread w : workers) LockSupport.unpark(w);
        drain(g, t, n);
        int spins = 0;
        while (pending.get() > 0) {
            if (++spins < SPINS) Thread.onSpinWait();
            else Thread.yield();
        }
        task = null;
        Throwable f = failure;
        if (f != null) {
            if (f instanceof RuntimeException re) throw re;
            if (f instanceof Error e) throw e;
            throw new RuntimeException(f);
        }
    }

    private void drain(int g, Task t, int n) {
        while (true) {
            long v = ticket.get();
            if ((int) (v >>> 32) != g) return;
            int i = (int) v;
            if (i >= n || (v & CLOSED) == CLOSED) return;
            if (!ticket.compareAndSet(v, v + 1)) continue;
            try {
                t.run(i);
            } catch (Throwable e) {
                failure = e;
            } finally {
                pending.decrementAndGet();
            }
        }
    }

    private void workerLoop() {
        int seen = 0;
        while (!closed) {
            int spins = 0;
            while (generation == seen && !closed) {
                // Spin briefly (steps issue many small tasks), then sleep until the next run unparks us.
                if (++spins < SPINS) Thread.onSpinWait();
                else LockSupport.park(this);
            }
            if (closed) return;
            int g = generation;
            seen = g;
            Task t = task;
            int n = chunks;
            if (t != null) drain(g, t, n);
        }
    }

    /**
     * {@code out[v * w.rows() + r] = W[r] . x[v * w.cols() ...]} for all rows and {@code nVec} vectors, rows split
     * over the pool in chunks.
     */
    public void matmul(QMatrix w, float[] x, int nVec, float[] out) {
        matmul(w, x, w.cols(), nVec, out, w.rows());
    }

    public synchronized void matmul(QMatrix w, float[] x, int xStride, int nVec, float[] out, int outStride) {
        MatMulTask m = matMulTask;
        m.set(w, x, xStride, nVec, out, outStride, threads());
        run(m.chunks, m);
        m.clear();
    }

    @Override
    public void close() {
        closed = true;
        for (Thread w : workers) LockSupport.unpark(w);
    }

    /** Splits a matrix product into row chunks; reused, so a call allocates nothing. */
    private static final class MatMulTask implements Task {
        QMatrix w;
        float[] x, out;
        int xStride, nVec, outStride, rowsPerChunk, chunks;
        TensorFormat format;

        void set(QMatrix w, float[] x, int xStride, int nVec, float[] out, int outStride, int threads) {
            this.w = w;
            this.x = x;
            this.xStride = xStride;
            this.nVec = nVec;
            this.out = out;
            this.outStride = outStride;
            this.format = Formats.of(w.type());
            // Enough chunks to balance two cores, few enough that each is worth a hand-off.
            int target = threads == 1 ? 1 : threads * 8;
            int rpc = Math.max(16, (w.rows() + target - 1) / target);
            rpc = (rpc + 3) & ~3;
            this.rowsPerChunk = rpc;
            this.chunks = (w.rows() + rpc - 1) / rpc;
        }

        void clear() {
            w = null;
            x = out = null;
            format = null;
        }

        @Override
        public void run(int chunk) {
            int r0 = chunk * rowsPerChunk;
            int r1 = Math.min(w.rows(), r0 + rowsPerChunk);
            Kernels.matmul(format, w, r0, r1, x, xStride, nVec, out, outStride);
        }
    }
}
