package io.moeflow.model;

import io.moeflow.gguf.GgufWriter;
import io.moeflow.kernels.GgmlType;
import java.io.IOException;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.Map;
import java.util.Random;

/**
 * A tiny random-weight F32 GGUF of a qwen2moe or olmoe model written with {@link GgufWriter}, and an
 * independent double-precision forward pass written from the architectures' definitions (llama.cpp's
 * src/models/qwen2moe.cpp and olmoe.cpp), to check the engine where no llama.cpp reference exists.
 */
final class TinyMoeModel {
    final String arch;
    final int vocab = 64, embd = 32, layers = 2, heads = 4, kvHeads, headDim = 8, experts = 6, used = 2,
            expertFfn = 16, sharedFfn = 24, context = 64;
    final float eps = 1e-6f, base = 10000f;
    /** Weights in ggml order: element (row r, col c) of a matrix at r * cols + c; experts stacked. */
    final Map<String, float[]> w = new HashMap<>();

    TinyMoeModel(String arch) {
        this.arch = arch;
        // olmoe's attn_k_norm spans n_embd in llama.cpp, so these models have no GQA.
        this.kvHeads = arch.equals("olmoe") ? heads : 2;
    }

    boolean qwen() {
        return arch.equals("qwen2moe");
    }

    Path write(Path dir, long seed) throws IOException {
        Random r = new Random(seed);
        GgufWriter g = new GgufWriter();
        String a = arch;
        g.putString("general.architecture", a).putString("general.name", "tiny " + a)
                .putUInt32(a + ".context_length", context).putUInt32(a + ".embedding_length", embd)
                .putUInt32(a + ".block_count", layers).putUInt32(a + ".feed_forward_length", expertFfn)
                .putUInt32(a + ".attention.head_count", heads).putUInt32(a + ".attention.head_count_kv", kvHeads)
                .putFloat32(a + ".attention.layer_norm_rms_epsilon", eps).putFloat32(a + ".rope.freq_base", base)
                .putUInt32(a + ".expert_count", experts).putUInt32(a + ".expert_used_count", used)
                .putUInt32(a + ".expert_feed_forward_length", expertFfn).putUInt32(a + ".vocab_size", vocab);
        if (qwen()) g.putUInt32(a + ".expert_shared_feed_forward_length", sharedFfn);
        int q = heads * headDim, kv = kvHeads * headDim;
        add(g, r, "token_embd.weight", 0.5, 0, embd, vocab);
        add(g, r, "output_norm.weight", 0.1, 1, embd);
        add(g, r, "output.weight", 0.3, 0, embd, vocab);
        for (int l = 0; l < layers; l++) {
            String p = "blk." + l + ".";
            add(g, r, p + "attn_norm.weight", 0.1, 1, embd);
            add(g, r, p + "attn_q.weight", 0.3, 0, embd, q);
            add(g, r, p + "attn_k.weight", 0.3, 0, embd, kv);
            add(g, r, p + "attn_v.weight", 0.3, 0, embd, kv);
            add(g, r, p + "attn_output.weight", 0.3, 0, q, embd);
            if (qwen()) {
                add(g, r, p + "attn_q.bias", 0.3, 0, q);
                add(g, r, p + "attn_k.bias", 0.3, 0, kv);
                add(g, r, p + "attn_v.bias", 0.3, 0, kv);
            } else {
                add(g, r, p + "attn_q_norm.weight", 0.1, 1, q);
                add(g, r, p + "attn_k_norm.weight", 0.1, 1, kv);
            }
            add(g, r, p + "ffn_norm.weight", 0.1, 1, embd);
            add(g, r, p + "ffn_gate_inp.weight", 1.0, 0, embd, experts);
            add(g, r, p + "ffn_gate_exps.weight", 0.3, 0, embd, expertFfn, experts);
            add(g, r, p + "ffn_up_exps.weight", 0.3, 0, embd, expertFfn, experts);
            add(g, r, p + "ffn_down_exps.weight", 0.3, 0, expertFfn, embd, experts);
            if (qwen()) {
                add(g, r, p + "ffn_gate_inp_shexp.weight", 0.5, 0, embd);
                add(g, r, p + "ffn_gate_shexp.weight", 0.3, 0, embd, sharedFfn);
                add(g, r, p + "ffn_up_shexp.weight", 0.3, 0, embd, sharedFfn);
                add(g, r, p + "ffn_down_shexp.weight", 0.3, 0, sharedFfn, embd);
            }
        }
        Path file = dir.resolve(arch + "-tiny.gguf");
        g.write(file);
        return file;
    }

    private void add(GgufWriter g, Random r, String name, double std, double mean, long... ne) {
        long n = 1;
        for (long d : ne) n *= d;
        float[] v = new float[(int) n];
        for (int i = 0; i < v.length; i++) v[i] = (float) (mean + std * r.nextGaussian());
        w.put(name, v);
        g.addTensor(name, GgmlType.F32, ne, GgufWriter.ofFloats(GgmlType.F32, v));
    }

    // ---- the reference forward pass, in double ----

    /** {@code y = W x} for the matrix {@code rows x cols} starting at element {@code off} of {@code m}. */
    static double[] mul(float[] m, int off, int rows, int cols, double[] x) {
        double[] y = new double[rows];
        for (int i = 0; i < rows; i++) {
            double s = 0;
            for (int c = 0; c < cols; c++) s += m[off + i * cols + c] * x[c];
            y[i] = s;
        }
        return y;
    }

    double[] rmsnorm(double[] x, int from, int n, float[] weight) {
        double ss = 0;
        for (int i = 0; i < n; i++) ss += x[from + i] * x[from + i];
        double k = 1 / Math.sqrt(ss / n + eps);
        double[] y = x.clone();
        for (int i = 0; i < n; i++) y[from + i] = x[from + i] * k * weight[i];
        return y;
    }

    /** NeoX RoPE over every head: pairs (i, i + headDim/2), theta_i = pos * base^(-2i/headDim). */
    void rope(double[] v, int nHeads, int pos) {
        int half = headDim / 2;
        for (int h = 0; h < nHeads; h++)
            for (int i = 0; i < half; i++) {
                double th = pos * Math.pow(base, -2.0 * i / headDim);
                int a = h * headDim + i, b = a + half;
                double x0 = v[a], x1 = v[b];
                v[a] = x0 * Math.cos(th) - x1 * Math.sin(th);
                v[b] = x0 * Math.sin(th) + x1 * Math.cos(th);
            }
    }

    static double silu(double x) {
        return x / (1 + Math.exp(-x));
    }

    /** SwiGLU FFN of one vector; {@code e} selects the expert slice of stacked tensors (0 for dense ones). */
    static double[] swiglu(float[] gate, float[] up, float[] down, int e, int ffn, int embd, double[] x) {
        double[] g = mul(gate, e * ffn * embd, ffn, embd, x), u = mul(up, e * ffn * embd, ffn, embd, x);
        for (int i = 0; i < ffn; i++) g[i] = silu(g[i]) * u[i];
        return mul(down, e * embd * ffn, embd, ffn, g);
    }

    /**
     * The MoE FFN of layer {@code l} for one normalized vector: softmax router, top-k (ties to the lower id),
     * weights = the chosen probabilities WITHOUT renormalisation, plus (qwen2moe) the shared expert times
     * {@code sigmoid(ffn_gate_inp_shexp . x)}. {@code chosen} receives the expert ids, best first.
     */
    double[] moe(int l, double[] x, int[] chosen) {
        String p = "blk." + l + ".";
        double[] logit = mul(w.get(p + "ffn_gate_inp.weight"), 0, experts, embd, x);
        double max = Double.NEGATIVE_INFINITY, sum = 0;
        for (double v : logit) max = Math.max(max, v);
        double[] prob = new double[experts];
        for (int e = 0; e < experts; e++) sum += prob[e] = Math.exp(logit[e] - max);
        for (int e = 0; e < experts; e++) prob[e] /= sum;
        boolean[] taken = new boolean[experts];
        double[] out = new double[embd];
        for (int k = 0; k < used; k++) {
            int best = -1;
            for (int e = 0; e < experts; e++) if (!taken[e] && (best < 0 || prob[e] > prob[best])) best = e;
            taken[best] = true;
            chosen[k] = best;
            double[] y = swiglu(w.get(p + "ffn_gate_exps.weight"), w.get(p + "ffn_up_exps.weight"),
                    w.get(p + "ffn_down_exps.weight"), best, expertFfn, embd, x);
            for (int i = 0; i < embd; i++) out[i] += prob[best] * y[i];
        }
        if (qwen()) {
            double gate = 1 / (1 + Math.exp(-mul(w.get(p + "ffn_gate_inp_shexp.weight"), 0, 1, embd, x)[0]));
            double[] y = swiglu(w.get(p + "ffn_gate_shexp.weight"), w.get(p + "ffn_up_shexp.weight"),
                    w.get(p + "ffn_down_shexp.weight"), 0, sharedFfn, embd, x);
            for (int i = 0; i < embd; i++) out[i] += gate * y[i];
        }
        return out;
    }

    /** Logits {@code [tokens][vocab]} and the experts each layer chose per position ({@code routes[l][t]}). */
    double[][] forward(int[] tokens, int[][][] routes) {
        int n = tokens.length, q = heads * headDim, kv = kvHeads * headDim;
        double[][] x = new double[n][embd];
        for (int t = 0; t < n; t++)
            for (int i = 0; i < embd; i++) x[t][i] = w.get("token_embd.weight")[tokens[t] * embd + i];
        for (int l = 0; l < layers; l++) {
            String p = "blk." + l + ".";
            double[][] Q = new double[n][], K = new double[n][], V = new double[n][];
            for (int t = 0; t < n; t++) {
                double[] xn = rmsnorm(x[t], 0, embd, w.get(p + "attn_norm.weight"));
                Q[t] = mul(w.get(p + "attn_q.weight"), 0, q, embd, xn);
                K[t] = mul(w.get(p + "attn_k.weight"), 0, kv, embd, xn);
                V[t] = mul(w.get(p + "attn_v.weight"), 0, kv, embd, xn);
                if (qwen()) {
                    for (int i = 0; i < q; i++) Q[t][i] += w.get(p + "attn_q.bias")[i];
                    for (int i = 0; i < kv; i++) K[t][i] += w.get(p + "attn_k.bias")[i];
                    for (int i = 0; i < kv; i++) V[t][i] += w.get(p + "attn_v.bias")[i];
                } else {
                    Q[t] = rmsnorm(Q[t], 0, q, w.get(p + "attn_q_norm.weight"));
                    K[t] = rmsnorm(K[t], 0, kv, w.get(p + "attn_k_norm.weight"));
                }
                rope(Q[t], heads, t);
                rope(K[t], kvHeads, t);
            }
            for (int t = 0; t < n; t++) {
                double[] o = new double[q];
                for (int h = 0; h < heads; h++) {
                    int g = h / (heads / kvHeads);
                    double[] s = new double[t + 1];
                    double max = Double.NEGATIVE_INFINITY, sum = 0;
                    for (int j = 0; j <= t; j++) {
                        for (int i = 0; i < headDim; i++) s[j] += Q[t][h * headDim + i] * K[j][g * headDim + i];
                        s[j] /= Math.sqrt(headDim);
                        max = Math.max(max, s[j]);
                    }
                    for (int j = 0; j <= t; j++) sum += s[j] = Math.exp(s[j] - max);
                    for (int j = 0; j <= t; j++)
                        for (int i = 0; i < headDim; i++) o[h * headDim + i] += s[j] / sum * V[j][g * headDim + i];
                }
                double[] attn = mul(w.get(p + "attn_output.weight"), 0, embd, q, o);
                for (int i = 0; i < embd; i++) x[t][i] += attn[i];
            }
            for (int t = 0; t < n; t++) {
                double[] f = moe(l, rmsnorm(x[t], 0, embd, w.get(p + "ffn_norm.weight")), routes[l][t]);
                for (int i = 0; i < embd; i++) x[t][i] += f[i];
            }
        }
        double[][] logits = new double[n][];
        for (int t = 0; t < n; t++)
            logits[t] = mul(w.get("output.weight"), 0, vocab, embd, rmsnorm(x[t], 0, embd, w.get("output_norm.weight")));
        return logits;
    }
}
