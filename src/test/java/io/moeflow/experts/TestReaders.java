package io.moeflow.experts;

import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.nio.file.Path;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.LongPredicate;

/** A test double of the expert file reader: counts reads per file position, fails or shortens chosen ones, can hold reads at a gate. */
final class TestReaders implements ExpertReader.Factory {
    final boolean direct;
    final Map<Long, AtomicInteger> readsAt = new ConcurrentHashMap<>();
    final AtomicInteger reads = new AtomicInteger();
    /** Reads at positions matching this fail with an I/O error. */
    volatile LongPredicate failAt = p -> false;
    /** Reads at positions matching this return half the bytes. */
    volatile LongPredicate shortAt = p -> false;
    /** When set, every read waits for it (to make misses overlap). */
    volatile CountDownLatch gate;
    /** Runs inside every read (to observe the store while reads are in flight). */
    volatile Runnable duringRead = () -> {};
    final CountDownLatch firstReadStarted = new CountDownLatch(1);

    TestReaders(boolean direct) {
        this.direct = direct;
    }

    @Override
    public ExpertReader open(Path file) throws IOException {
        FileExpertReader real = FileExpertReader.open(file, direct);
        return new ExpertReader() {
            @Override public int alignment() { return real.alignment(); }

            @Override
            public long read(MemorySegment dst, long position) throws IOException {
                firstReadStarted.countDown();
                CountDownLatch g = gate;
                try {
                    if (g != null && !g.await(30, TimeUnit.SECONDS)) throw new IOException("test gate never opened");
                } catch (InterruptedException e) {
                    throw new IOException(e);
                }
                duringRead.run();
                reads.incrementAndGet();
                readsAt.computeIfAbsent(position, k -> new AtomicInteger()).incrementAndGet();
                if (failAt.test(position)) throw new IOException("injected I/O error at offset " + position);
                long n = real.read(dst, position);
                return shortAt.test(position) ? n / 2 : n;
            }

            @Override public void close() throws IOException { real.close(); }
        };
    }

    int readsAt(long position) {
        AtomicInteger n = readsAt.get(position);
        return n == null ? 0 : n.get();
    }
}
