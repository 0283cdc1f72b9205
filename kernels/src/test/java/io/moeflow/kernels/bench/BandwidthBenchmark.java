package io.moeflow.kernels.bench;

import io.moeflow.kernels.WorkerPool;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorSpecies;
import org.openjdk.jmh.annotations.AuxCounters;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;

/**
 * The yardstick for {@link KernelBenchmarks}: the sum of a 512 MB off-heap float segment with vector loads, on 1 or
 * 2 threads (the same {@link WorkerPool} and 64-row-sized chunks as the kernels), as bytes read per second.
 */
@State(Scope.Benchmark)
public class BandwidthBenchmark extends BenchmarkSettings {
    static final long BYTES = 512L << 20;
    /** 1 MB chunks: 512 of them, as fine-grained as the kernels' row chunks relative to the work. */
    static final long CHUNK = 1L << 20;
    private static final VectorSpecies<Float> F = FloatVector.SPECIES_PREFERRED;

    @Param({"1", "2"})
    public int threads;

    private Arena arena;
    private MemorySegment data;
    private WorkerPool pool;
    private final float[] partial = new float[(int) (BYTES / CHUNK)];
    private final WorkerPool.Task sumChunk = this::sumChunk;

    @AuxCounters(AuxCounters.Type.OPERATIONS)
    @State(Scope.Thread)
    public static class Traffic {
        public long bytes;
    }

    @Setup(Level.Trial)
    public void setup() {
        arena = Arena.ofShared();
        data = arena.allocate(BYTES, 64);
        for (long i = 0; i < BYTES / 4; i++) data.setAtIndex(ValueLayout.JAVA_FLOAT, i, (i % 7) * 0.25f);
        pool = new WorkerPool(threads);
    }

    @TearDown(Level.Trial)
    public void tearDown() {
        pool.close();
        arena.close();
    }

    private void sumChunk(int chunk) {
        long start = chunk * CHUNK, end = start + CHUNK;
        int step = F.vectorByteSize();
        FloatVector a0 = FloatVector.zero(F), a1 = a0, a2 = a0, a3 = a0;
        for (long o = start; o < end; o += 4L * step) {
            a0 = a0.add(FloatVector.fromMemorySegment(F, data, o, ByteOrder.LITTLE_ENDIAN));
            a1 = a1.add(FloatVector.fromMemorySegment(F, data, o + step, ByteOrder.LITTLE_ENDIAN));
            a2 = a2.add(FloatVector.fromMemorySegment(F, data, o + 2L * step, ByteOrder.LITTLE_ENDIAN));
            a3 = a3.add(FloatVector.fromMemorySegment(F, data, o + 3L * step, ByteOrder.LITTLE_ENDIAN));
        }
        partial[chunk] = a0.add(a1).add(a2).add(a3).reduceLanes(VectorOperators.ADD);
    }

    @Benchmark
    public float sum(Traffic traffic) {
        pool.run(partial.length, sumChunk);
        float s = 0;
        for (float p : partial) s += p;
        traffic.bytes += BYTES;
        return s;
    }
}
