package io.moeflow.experts;

import io.moeflow.gguf.GgufTensor;
import io.moeflow.kernels.QMatrix;

/** Experts served straight from the memory-mapped 3-D tensors {@code ffn_{gate,up,down}_exps} (page cache). */
public final class MappedExperts implements ExpertWeights {
    private final QMatrix[] gate, up, down;
    private final GgufTensor gateExps, upExps, downExps;
    private final long bytes;

    public MappedExperts(GgufTensor gateExps, GgufTensor upExps, GgufTensor downExps) {
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
        bytes = gate[0].byteSize() + up[0].byteSize() + down[0].byteSize();
    }

    /** The 3-D tensors the experts are sliced from (an {@link ExpertStore} reads their file ranges). */
    public GgufTensor gateTensor() { return gateExps; }

    public GgufTensor upTensor() { return upExps; }

    public GgufTensor downTensor() { return downExps; }

    @Override public int count() { return gate.length; }

    @Override public QMatrix gate(int e) { return gate[e]; }

    @Override public QMatrix up(int e) { return up[e]; }

    @Override public QMatrix down(int e) { return down[e]; }

    @Override public long bytesPerExpert() { return bytes; }
}
