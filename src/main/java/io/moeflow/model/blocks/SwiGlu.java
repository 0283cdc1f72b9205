package io.moeflow.model.blocks;

import io.moeflow.kernels.QMatrix;
import io.moeflow.kernels.WorkerPool;
import io.moeflow.model.StepStats;

/**
 * Dense SwiGLU FFN: {@code down(silu(gate x) * up x)}, each product optionally multiplied by its tensor's
 * {@code .scale} (llama).
 */
public final class SwiGlu implements FeedForward {
    private final QMatrix gate, up, down;
    private final float gateScale, upScale, downScale;

    public SwiGlu(QMatrix gate, QMatrix up, QMatrix down) {
        this(gate, up, down, 1f, 1f, 1f);
    }

    public SwiGlu(QMatrix gate, QMatrix up, QMatrix down, float gateScale, float upScale, float downScale) {
        this.gate = gate;
        this.up = up;
        this.down = down;
        this.gateScale = gateScale;
        this.upScale = upScale;
        this.downScale = downScale;
    }

    @Override
    public void forward(int layer, int n, Workspace ws, StepStats stats) {
        int embd = gate.cols(), ffn = gate.rows();
        ws.gate = Workspace.fit(ws.gate, n * ffn);
        ws.up = Workspace.fit(ws.up, n * ffn);
        WorkerPool pool = ws.pool;
        pool.matmul(gate, ws.xn, embd, n, ws.gate, ffn);
        Attention.scale(ws.gate, 0, n * ffn, gateScale);
        pool.matmul(up, ws.xn, embd, n, ws.up, ffn);
        Attention.scale(ws.up, 0, n * ffn, upScale);
        silu(ws.gate, ws.up, n * ffn);
        pool.matmul(down, ws.gate, ffn, n, ws.out, embd);
        Attention.scale(ws.out, 0, n * embd, downScale);
    }

    /** {@code g[i] = silu(g[i]) * u[i]}. */
    static void silu(float[] g, float[] u, int len) {
        for (int i = 0; i < len; i++) {
            float x = g[i];
            g[i] = x / (1f + (float) Math.exp(-x)) * u[i];
        }
    }
}
