package io.moeflow.kernels.bench;

import io.moeflow.kernels.GgmlType;
import io.moeflow.kernels.Kernels;
import io.moeflow.kernels.QMatrix;
import io.moeflow.kernels.RandomBlocks;
import io.moeflow.kernels.WorkerPool;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.Random;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;

/**
 * {@link KernelBenchmarks} for the IQ and ternary types, most of which ggml quantizes only with an importance matrix:
 * the 4096 x 4096 matrices hold random blocks ({@link RandomBlocks}) instead of quantized values, rotated through
 * more than 256 MB so the weights stream from DRAM. Reports matrix products per second and weight bytes per second.
 */
@State(Scope.Benchmark)
public class IQKernelBenchmarks extends BenchmarkSettings {
    @Param({"IQ4_NL", "IQ4_XS", "IQ3_XXS", "IQ3_S", "IQ2_XXS", "IQ2_XS", "IQ2_S", "IQ1_S", "IQ1_M", "TQ1_0", "TQ2_0"})
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

    @Setup(Level.Trial)
    public void setup() {
        if (!Kernels.vectorEnabled()) throw new IllegalStateException("benchmarking the scalar kernels: " + Kernels.describe());
        GgmlType t = GgmlType.valueOf(type);
        int rows = KernelBenchmarks.ROWS, cols = KernelBenchmarks.COLS;
        long matrixBytes = t.bytesFor(cols) * rows;
        int copies = (int) Math.max(2, (KernelBenchmarks.TOTAL_BYTES + matrixBytes - 1) / matrixBytes);
        arena = Arena.ofShared();
        Random rnd = new Random(1);
        matrices = new QMatrix[copies];
        for (int m = 0; m < copies; m++) {
            MemorySegment seg = arena.allocate(matrixBytes, 64);
            RandomBlocks.fill(t, seg, 0, matrixBytes / t.typeSize, rnd);
            matrices[m] = new QMatrix(t, seg, 0, cols, rows);
        }
        x = new float[nVec * cols];
        for (int i = 0; i < x.length; i++) x[i] = (float) rnd.nextGaussian();
        out = new float[nVec * rows];
        pool = new WorkerPool(threads);
    }

    @TearDown(Level.Trial)
    public void tearDown() {
        if (pool != null) pool.close();
        if (arena != null) arena.close();
    }

    @Benchmark
    public float matmul(KernelBenchmarks.Traffic traffic) {
        QMatrix w = matrices[next];
        next = next + 1 == matrices.length ? 0 : next + 1;
        pool.matmul(w, x, nVec, out);
        traffic.weightBytes += w.byteSize();
        return out[0];
    }
}
