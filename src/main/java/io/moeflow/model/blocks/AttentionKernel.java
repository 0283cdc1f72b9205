package io.moeflow.model.blocks;

import io.moeflow.kernels.VectorMath;
import io.moeflow.model.KvCache;
import java.util.Arrays;

/**
 * One query's causal softmax attention over its sequence's cached positions, shared by GQA and MLA
 * attention: {@code out = sum_j p_j V_j} with {@code p = softmax(scale * q . K_j)} over
 * {@code pos - window < j <= pos} (all {@code j <= pos} without a window). An optional per-head sink logit
 * joins the softmax denominator only (gpt-oss), as ggml's soft_max with sinks does. Score buffers are per
 * thread and grow with the context, so calls allocate nothing once warm.
 */
final class AttentionKernel {
    private final ThreadLocal<float[]> scores = ThreadLocal.withInitial(() -> new float[256]);

    /**
     * @param q      query values {@code q[qo .. qo+kLen)}
     * @param kOff   offset of the key inside a cache row ({@link KvCache#offset} based)
     * @param vOff   offset of the value inside a cache row
     * @param window sliding window in positions, 0 for full causal attention
     * @param sink   sink logit of this head, or NaN for none
     */
    void attend(float[] q, int qo, int kLen, KvCache kv, int layer, int seq, int pos, int kOff, int vOff, int vLen,
                float scale, int window, float sink, float[] out, int oo) {
        int first = window > 0 ? Math.max(0, pos - window + 1) : 0;
        attendFrom(q, qo, kLen, kv, layer, seq, first, pos, kOff, vOff, vLen, scale, sink, out, oo);
    }

    /** As {@link #attend}, over the keys {@code first <= j <= pos} (a window or a chunk, as the caller computes it). */
    void attendFrom(float[] q, int qo, int kLen, KvCache kv, int layer, int seq, int first, int pos, int kOff, int vOff, int vLen,
                    float scale, float sink, float[] out, int oo) {
        float[] s = scores.get();
        if (s.length < pos + 1) {
            s = new float[Math.max(pos + 1, s.length * 2)];
            scores.set(s);
        }
        float max = Float.NEGATIVE_INFINITY;
        for (int j = first; j <= pos; j++) {
            float d = VectorMath.dot(q, qo, kv.block(seq, j), kv.offset(layer, j) + kOff, kLen) * scale;
            s[j] = d;
            if (d > max) max = d;
        }
        boolean hasSink = !Float.isNaN(sink);
        if (hasSink) max = Math.max(max, sink);
        double sum = 0;
        for (int j = first; j <= pos; j++) {
            float e = (float) Math.exp(s[j] - max);
            s[j] = e;
            sum += e;
        }
        if (hasSink) sum += (float) Math.exp(sink - max);
        float inv = (float) (1.0 / sum);
        Arrays.fill(out, oo, oo + vLen, 0f);
        for (int j = first; j <= pos; j++)
            VectorMath.axpy(s[j] * inv, kv.block(seq, j), kv.offset(layer, j) + vOff, out, oo, vLen);
    }
}
