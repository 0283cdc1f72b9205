package io.moeflow.model;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.moeflow.experts.MappedExperts;
import io.moeflow.gguf.GgufFile;
import io.moeflow.kernels.WorkerPool;
import io.moeflow.model.blocks.FeedForward;
import io.moeflow.model.blocks.MoeFfn;
import io.moeflow.model.blocks.SigmoidGatedFfn;
import io.moeflow.model.blocks.SwiGlu;
import io.moeflow.model.blocks.Workspace;
import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * qwen2moe and olmoe have no llama.cpp golden file here: tiny random models written with GgufWriter are
 * checked against an independent double-precision forward pass ({@link TinyMoeModel}), batch against decode,
 * and the MoE block alone against its scalar formula.
 */
class SyntheticMoeArchitecturesTest {
    static WorkerPool pool;
    @TempDir Path dir;

    @BeforeAll
    static void start() {
        pool = new WorkerPool(2);
    }

    @AfterAll
    static void stop() {
        pool.close();
    }

    static int[] tokens(int n, long seed, int vocab) {
        Random r = new Random(seed);
        int[] t = new int[n];
        for (int i = 0; i < n; i++) t[i] = r.nextInt(vocab);
        return t;
    }

    @ParameterizedTest
    @ValueSource(strings = {"qwen2moe", "olmoe"})
    void logitsAndRoutingMatchTheScalarReference(String arch) throws IOException {
        TinyMoeModel ref = new TinyMoeModel(arch);
        Path file = ref.write(dir, 7);
        int[] tokens = tokens(24, 11, ref.vocab);
        int[][][] refRoutes = new int[ref.layers][tokens.length][ref.used];
        double[][] expected = ref.forward(tokens, refRoutes);
        try (DecoderModel m = Models.load(file, pool)) {
            assertEquals(arch, m.info().architecture());
            List<List<int[]>> routes = new ArrayList<>();
            for (int l = 0; l < ref.layers; l++) routes.add(new ArrayList<>());
            StepStats stats = new StepStats();
            stats.routing = (layer, token, experts, from, k) -> routes.get(layer).add(java.util.Arrays.copyOfRange(experts, from, from + k));
            float[] batch = Logits.compute(m, tokens, false, stats);
            float[] decode = Logits.compute(m, tokens, true, null);
            float max = 0;
            for (int t = 0; t < tokens.length; t++)
                for (int v = 0; v < ref.vocab; v++) {
                    max = Math.max(max, (float) Math.abs(expected[t][v] - batch[t * ref.vocab + v]));
                    max = Math.max(max, (float) Math.abs(expected[t][v] - decode[t * ref.vocab + v]));
                }
            float worst = max;
            assertTrue(worst < 1e-4f, () -> arch + ": max |engine - reference| " + worst);
            GoldenLogitsTest.assertClose(batch, decode, arch + " batch vs decode");
            for (int l = 0; l < ref.layers; l++)
                for (int t = 0; t < tokens.length; t++)
                    assertArrayEquals(refRoutes[l][t], routes.get(l).get(t), arch + " layer " + l + " position " + t);
            // The routing must be varied enough to exercise the experts.
            java.util.Set<Integer> seen = new java.util.HashSet<>();
            for (int[][] layer : refRoutes) for (int[] r : layer) for (int e : r) seen.add(e);
            assertTrue(seen.size() >= ref.experts - 1, arch + " uses only experts " + seen);
        }
    }

    @ParameterizedTest
    @ValueSource(strings = {"qwen2moe", "olmoe"})
    void moeBlockMatchesItsScalarFormula(String arch) throws IOException {
        TinyMoeModel ref = new TinyMoeModel(arch);
        Path file = ref.write(dir, 3);
        int n = 40, embd = ref.embd;
        Random r = new Random(5);
        float[] x = new float[n * embd];
        for (int i = 0; i < x.length; i++) x[i] = (float) r.nextGaussian();
        try (GgufFile f = GgufFile.open(file)) {
            String p = "blk.1.";
            FeedForward shared = ref.qwen()
                    ? new SigmoidGatedFfn(new SwiGlu(f.tensor(p + "ffn_gate_shexp.weight").matrix(), f.tensor(p + "ffn_up_shexp.weight").matrix(),
                            f.tensor(p + "ffn_down_shexp.weight").matrix()), f.tensor(p + "ffn_gate_inp_shexp.weight").matrix())
                    : null;
            MoeFfn moe = new MoeFfn(f.tensor(p + "ffn_gate_inp.weight").matrix(),
                    new MappedExperts(f.tensor(p + "ffn_gate_exps.weight"), f.tensor(p + "ffn_up_exps.weight"), f.tensor(p + "ffn_down_exps.weight")),
                    ref.used, MoeFfn.Options.of(MoeFfn.Gating.SOFTMAX, false, 1f), shared);
            Workspace ws = new Workspace(pool);
            ws.xn = x.clone();
            ws.out = new float[n * embd];
            moe.forward(1, n, ws, null);
            int[] chosen = new int[ref.used];
            for (int t = 0; t < n; t++) {
                double[] xt = new double[embd];
                for (int i = 0; i < embd; i++) xt[i] = x[t * embd + i];
                double[] want = ref.moe(1, xt, chosen);
                for (int i = 0; i < embd; i++)
                    assertEquals(want[i], ws.out[t * embd + i], 2e-5, arch + " token " + t + " value " + i);
            }
        }
    }
}
