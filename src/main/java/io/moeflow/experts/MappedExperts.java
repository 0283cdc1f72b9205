package io.moeflow.experts;

import io.moeflow.gguf.GgufTensor;
import io.moeflow.kernels.QMatrix;

/**
 * Experts served straight from the memory-mapped 3-D tensors {@code ffn_{gate,up,down}_exps} (page cache), or
 * from a fused {@code ffn_gate_up_exps} and {@code ffn_down_exps}, with their optional 2-D bias tensors
 * {@code ffn_{gate,up,down}_exps.bias} ({@code ne = {rows, n_expert}}) sliced per expert into small resident arrays,
 * and optional per-expert output scales ({@code ffn_{gate,up,down}_exps.scale}, {@code ne = {n_expert}}).
 */
public final class MappedExperts implements ExpertWeights {
    private final QMatrix[] gate, up, down;
    private final float[][] gateBias, upBias, downBias;
    private final float[] gateScale, upScale, downScale;
    private final ExpertSlice gateSlice, upSlice, downSlice;
    private final long bytes;

    public MappedExperts(GgufTensor gateExps, GgufTensor upExps, GgufTensor downExps) {
        this(ExpertSlice.of(gateExps), ExpertSlice.of(upExps), ExpertSlice.of(downExps), Extras.NONE);
    }

    /** The per-expert extras, each null when absent: bias tensors ({@code [rows, n_expert]}) and scale tensors ({@code [n_expert]}). */
    public record Extras(GgufTensor gateBias, GgufTensor upBias, GgufTensor downBias,
                         GgufTensor gateScale, GgufTensor upScale, GgufTensor downScale) {
        public static final Extras NONE = new Extras(null, null, null, null, null, null);
    }

    public MappedExperts(ExpertSlice gateSlice, ExpertSlice upSlice, ExpertSlice downSlice, Extras extras) {
        int n = gateSlice.experts();
        if (upSlice.experts() != n || downSlice.experts() != n)
            throw new IllegalArgumentException("expert tensors disagree on the expert count: " + gateSlice.describe() + ", "
                    + upSlice.describe() + ", " + downSlice.describe());
        this.gateSlice = gateSlice;
        this.upSlice = upSlice;
        this.downSlice = downSlice;
        gate = new QMatrix[n];
        up = new QMatrix[n];
        down = new QMatrix[n];
        for (int e = 0; e < n; e++) {
            gate[e] = gateSlice.expert(e);
            up[e] = upSlice.expert(e);
            down[e] = downSlice.expert(e);
        }
        gateBias = biases(extras.gateBias(), n, gate[0].rows());
        upBias = biases(extras.upBias(), n, up[0].rows());
        downBias = biases(extras.downBias(), n, down[0].rows());
        gateScale = scales(extras.gateScale(), n);
        upScale = scales(extras.upScale(), n);
        downScale = scales(extras.downScale(), n);
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

    private static float[] scales(GgufTensor t, int n) {
        if (t == null) return null;
        if (t.dims() != 1 || t.ne(0) != n)
            throw new IllegalArgumentException("expert scale '" + t.name() + "' has shape " + java.util.Arrays.toString(t.ne())
                    + ", expected [" + n + "] (one per expert)");
        return t.toFloats();
    }

    /** The expert matrices' places in the file (an {@link ExpertStore} reads their file ranges). */
    public ExpertSlice gateSlice() { return gateSlice; }

    public ExpertSlice upSlice() { return upSlice; }

    public ExpertSlice downSlice() { return downSlice; }

    @Override public int count() { return gate.length; }

    @Override public QMatrix gate(int e) { return gate[e]; }

    @Override public QMatrix up(int e) { return up[e]; }

    @Override public QMatrix down(int e) { return down[e]; }

    @Override public float[] gateBias(int e) { return gateBias == null ? null : gateBias[e]; }

    @Override public float[] upBias(int e) { return upBias == null ? null : upBias[e]; }

    @Override public float[] downBias(int e) { return downBias == null ? null : downBias[e]; }

    @Override public float gateScale(int e) { return gateScale == null ? 1f : gateScale[e]; }

    @Override public float upScale(int e) { return upScale == null ? 1f : upScale[e]; }

    @Override public float downScale(int e) { return downScale == null ? 1f : downScale[e]; }

    @Override public long bytesPerExpert() { return bytes; }
}
