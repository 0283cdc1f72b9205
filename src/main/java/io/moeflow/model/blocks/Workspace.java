package io.moeflow.model.blocks;

import io.moeflow.kernels.WorkerPool;

/**
 * Activation buffers of one forward step, shared by all layers and grown when a larger batch arrives, so
 * a step allocates nothing once warmed up. Not thread-safe: one step at a time.
 */
public final class Workspace {
    public final WorkerPool pool;
    /** Residual stream, normalized input, block output: {@code [tokens][n_embd]}. */
    public float[] x = new float[0], xn = new float[0], out = new float[0];
    public float[] q = new float[0], k = new float[0], v = new float[0], heads = new float[0];
    public float[] gate = new float[0], up = new float[0];
    public float[] routerLogits = new float[0], sharedGate = new float[0];
    /** MLA: q LoRA latent, kv latent + rope part, absorbed queries, attention output in latent space. */
    public float[] qLatent = new float[0], kvLatent = new float[0], qAbsorbed = new float[0], latentOut = new float[0];

    private final MoeFfn.MoeScratch moe = new MoeFfn.MoeScratch();

    /** Routing and per-expert buffers for a step of {@code slots} (token, expert) pairs. */
    MoeFfn.MoeScratch moe(int nExpert, int slots) {
        moe.ensure(nExpert, slots);
        return moe;
    }

    public Workspace(WorkerPool pool) {
        this.pool = pool;
    }

    /** A buffer of at least {@code n} floats, reusing {@code buf} when it is large enough. */
    public static float[] fit(float[] buf, int n) {
        return buf.length >= n ? buf : new float[Math.max(n, buf.length + buf.length / 2)];
    }

    public static int[] fit(int[] buf, int n) {
        return buf.length >= n ? buf : new int[Math.max(n, buf.length + buf.length / 2)];
    }
}
