package io.moeflow.kernels.bench;

import io.moeflow.kernels.Formats;
import io.moeflow.kernels.GgmlType;
import io.moeflow.kernels.Kernels;
import io.moeflow.kernels.QMatrix;
import io.moeflow.kernels.RandomBlocks;
import io.moeflow.kernels.WorkerPool;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.Random;
import org.openjdk.jmh.annotations.AuxCounters;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;

/**
 * Matrix x vector(s) through {@link WorkerPool#matmul} on a 4096 x 4096 matrix of each type, the weights streamed
 * from DRAM: several copies totalling more than 256 MB are used in turn, so none stays in cache. Reports matrix
 * products per second and, as the {@code weightBytes} counter, weight bytes read per second (compare with
 * {@link BandwidthBenchmark}). The IQ and ternary types hold random blocks ({@code -p type=IQ2_XXS,IQ4_XS,...}). A type
 * whose kernels have not landed fails its setup with UnsupportedOperationException.
 */
@State(Scope.Benchmark)
public class KernelBenchmarks extends BenchmarkSettings {
    static final int ROWS = 4096, COLS = 4096;
    /** Weights in rotation: well beyond the last-level cache. */
    static final long TOTAL_BYTES = 320L << 20;

    @Param({"F32", "F16", "Q8_0", "Q4_0", "Q4_K", "Q5_K", "Q6_K", "MXFP4"})
    public String type;

    @Param({"1", "8"})
    public int nVec;

    @Param({"1", "2"})
    public int threads;

    private Arena arena;
    private QMatrix[] matrices;
    private float[] x, out;
    private WorkerPool pool;
    private int next;

    /** Weight bytes streamed, reported per second. */
    @AuxCounters(AuxCounters.Type.OPERATIONS)
    @State(Scope.Thread)
    public static class Traffic {
        public long weightBytes;
    }

    @Setup(Level.Trial)
    public void setup() {
        // WIDTH=scalar (bench.sh) sets moeflow.kernels.scalar on purpose; otherwise a scalar run is a setup mistake
        if (!Kernels.vectorEnabled() && !Kernels.forcedScalar())
            throw new IllegalStateException("benchmarking the scalar kernels: " + Kernels.describe());
        GgmlType t = GgmlType.valueOf(type);
        long matrixBytes = t.bytesFor(COLS) * ROWS;
        int copies = (int) Math.max(2, (TOTAL_BYTES + matrixBytes - 1) / matrixBytes);
        arena = Arena.ofShared();
        // Quantize a band of random rows once and tile it: the reference quantizers of the K types are slow.
        int bandRows = 64;
        Random rnd = new Random(1);
        float[] band = new float[bandRows * COLS];
        for (int i = 0; i < band.length; i++) band[i] = (float) (rnd.nextGaussian() * 0.02);
        MemorySegment bandBytes = arena.allocate(t.bytesFor(band.length));
        // The IQ and ternary types: random blocks (most have no reference quantizer)
        if (RandomBlocks.covers(t)) RandomBlocks.fill(t, bandBytes, 0, band.length / t.blockSize, rnd);
        else Formats.of(t).quantize(band, 0, band.length, bandBytes, 0);
        matrices = new QMatrix[copies];
        for (int m = 0; m < copies; m++) {
            MemorySegment seg = arena.allocate(matrixBytes, 64);
            for (long o = 0; o < matrixBytes; o += bandBytes.byteSize())
                MemorySegment.copy(bandBytes, 0, seg, o, Math.min(bandBytes.byteSize(), matrixBytes - o));
            matrices[m] = new QMatrix(t, seg, 0, COLS, ROWS);
        }
        x = new float[nVec * COLS];
        for (int i = 0; i < x.length; i++) x[i] = (float) rnd.nextGaussian();
        out = new float[nVec * ROWS];
        pool = new WorkerPool(threads);
    }

    @TearDown(Level.Trial)
    public void tearDown() {
        if (pool != null) pool.close();
        if (arena != null) arena.close();
    }

    @Benchmark
    public float matmul(Traffic traffic) {
        QMatrix w = matrices[next];
        next = next + 1 == matrices.length ? 0 : next + 1;
        pool.matmul(w, x, nVec, out);
        traffic.weightBytes += w.byteSize();
        return out[0];
    }
}
