package io.moeflow.experts;

import io.moeflow.gguf.GgufTensor;
import io.moeflow.kernels.QMatrix;

/**
 * Experts served straight from the memory-mapped 3-D tensors {@code ffn_{gate,up,down}_exps} (page cache), with
 * their optional 2-D bias tensors {@code ffn_{gate,up,down}_exps.bias} ({@code ne = {rows, n_expert}}) sliced
 * per expert into small resident arrays.
 */
public final class MappedExperts implements ExpertWeights {
    private final QMatrix[] gate, up, down;
    private final float[][] gateBias, upBias, downBias;
    private final GgufTensor gateExps, upExps, downExps;
    private final long bytes;

    public MappedExperts(GgufTensor gateExps, GgufTensor upExps, GgufTensor downExps) {
        this(gateExps, upExps, downExps, null, null, null);
    }

    /** Bias tensors may be null (absent). */
    public MappedExperts(GgufTensor gateExps, GgufTensor upExps, GgufTensor downExps,
                         GgufTensor gateBiases, GgufTensor upBiases, GgufTensor downBiases) {
        int n = (int) gateExps.ne()[2];
        if (upExps.ne()[2] != n || downExps.ne()[2] != n)
            throw new IllegalArgumentException("expert tensors disagree on the expert count: " + gateExps.name() + ", " + upExps.name() + ", " + downExps.name());
        this.gateExps = gateExps;
        this.upExps = upExps;
        this.downExps = downExps;
        gate = new QMatrix[n];
        up = new QMatrix[n];
        down = new QMatrix[n];
        for (int e = 0; e < n; e++) {
            gate[e] = gateExps.expert(e);
            up[e] = upExps.expert(e);
            down[e] = downExps.expert(e);
        }
        gateBias = biases(gateBiases, n, gate[0].rows());
        upBias = biases(upBiases, n, up[0].rows());
        downBias = biases(downBiases, n, down[0].rows());
        bytes = gate[0].byteSize() + up[0].byteSize() + down[0].byteSize();
    }

    private static float[][] biases(GgufTensor t, int n, int rows) {
        if (t == null) return null;
        if (t.ne(0) != rows || t.ne(1) != n || t.dims() > 2)
            throw new IllegalArgumentException("expert bias '" + t.name() + "' has shape " + java.util.Arrays.toString(t.ne())
                    + ", expected [" + rows + ", " + n + "]");
        float[] all = t.toFloats();
        float[][] b = new float[n][];
        for (int e = 0; e < n; e++) b[e] = java.util.Arrays.copyOfRange(all, e * rows, (e + 1) * rows);
        return b;
    }
    /** The 3-D tensors the experts are sliced from (an {@link ExpertStore} reads their file ranges). */
    public GgufTensor gateTensor() { return gateExps; }

    public GgufTensor upTensor() { return upExps; }

    public GgufTensor downTensor() { return downExps; }

    @Override public int count() { return gate.length; }

    @Override public QMatrix gate(int e) { return gate[e]; }

    @Override public QMatrix up(int e) { return up[e]; }

    @Override public QMatrix down(int e) { return down[e]; }

    @Override public float[] gateBias(int e) { return gateBias == null ? null : gateBias[e]; }

    @Override public float[] upBias(int e) { return upBias == null ? null : upBias[e]; }

    @Override public float[] downBias(int e) { return downBias == null ? null : downBias[e]; }

    @Override public long bytesPerExpert() { return bytes; }
}
