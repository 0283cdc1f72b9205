package io.moeflow.model.blocks;

import io.moeflow.kernels.QMatrix;
import io.moeflow.model.StepStats;

/**
 * A feed-forward whose output is scaled per token by {@code sigmoid(gate . x)} (qwen2moe's shared expert with
 * {@code ffn_gate_inp_shexp}, a single row of {@code n_embd}).
 */
public final class SigmoidGatedFfn implements FeedForward {
    private final FeedForward inner;
    private final QMatrix gate;

    public SigmoidGatedFfn(FeedForward inner, QMatrix gate) {
        if (gate.rows() != 1)
            throw new IllegalArgumentException("shared-expert gate must be one row of n_embd, got " + gate.rows() + " rows");
        this.inner = inner;
        this.gate = gate;
    }

    @Override
    public void forward(int layer, int n, Workspace ws, StepStats stats) {
        int embd = gate.cols();
        ws.sharedGate = Workspace.fit(ws.sharedGate, n);
        ws.pool.matmul(gate, ws.xn, embd, n, ws.sharedGate, 1);
        inner.forward(layer, n, ws, stats);
        for (int t = 0; t < n; t++) {
            float s = 1f / (1f + (float) Math.exp(-ws.sharedGate[t]));
            for (int i = t * embd; i < (t + 1) * embd; i++) ws.out[i] *= s;
        }
    }
}
