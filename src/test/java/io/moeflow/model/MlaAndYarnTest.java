package io.moeflow.model;

import static org.junit.jupiter.api.Assertions.assertEquals;

import com.fasterxml.jackson.databind.JsonNode;
import io.moeflow.gguf.GgufFile;
import io.moeflow.gguf.GgufWriter;
import io.moeflow.kernels.GgmlType;
import io.moeflow.kernels.WorkerPool;
import io.moeflow.model.arch.DeepSeek2Model;
import io.moeflow.model.blocks.Rope;
import io.moeflow.testing.Golden;
import java.io.IOException;
import java.nio.file.Path;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * The MLA cache size, and YaRN RoPE against the published YaRN formulas (Hugging Face's
 * {@code _compute_yarn_parameters} and DeepSeek's {@code yarn_get_mscale}), computed here in double.
 */
class MlaAndYarnTest {
    @TempDir Path dir;

    @ParameterizedTest
    @ValueSource(strings = {"deepseek2-lite-tiny-F32", "deepseek2-v3-tiny-F32"})
    void mlaCacheHoldsOnlyLatentAndRopePart(String name) throws IOException {
        Golden g = Golden.of(name);
        Path d = g.dir();
        JsonNode hp = g.meta().get("hparams");
        int layers = hp.get("deepseek2.block_count").asInt();
        int rank = hp.get("deepseek2.attention.kv_lora_rank").asInt();
        int rope = hp.get("deepseek2.rope.dimension_count").asInt();
        try (WorkerPool pool = new WorkerPool(1); DecoderModel m = Models.load(d.resolve(name + ".gguf"), pool)) {
            KvCache kv = m.newKvCache(1);
            assertEquals((long) layers * (rank + rope) * 4, kv.bytesPerToken());
            assertEquals(rank + rope, kv.kDim());
            assertEquals(0, kv.vDim());
        }
    }

    /** YaRN per Hugging Face: per-dimension blend of interpolated and extrapolated frequencies, cos/sin times {@code mag}. */
    static double[] hfYarn(double[] x, int pos, int dims, double base, double factor, int origCtx, double betaFast,
                           double betaSlow, double mag, boolean neox) {
        double low = Math.floor(dims * Math.log(origCtx / (betaFast * 2 * Math.PI)) / (2 * Math.log(base)));
        double high = Math.ceil(dims * Math.log(origCtx / (betaSlow * 2 * Math.PI)) / (2 * Math.log(base)));
        low = Math.max(low, 0);
        high = Math.min(high, dims - 1);
        if (low == high) high += 0.001;
        double[] y = x.clone();
        int half = dims / 2;
        for (int i = 0; i < half; i++) {
            double extrapolated = Math.pow(base, -2.0 * i / dims), interpolated = extrapolated / factor;
            double ramp = Math.min(1, Math.max(0, (i - low) / (high - low)));
            double extrapolationShare = 1 - ramp;
            double freq = interpolated * (1 - extrapolationShare) + extrapolated * extrapolationShare;
            double c = Math.cos(pos * freq) * mag, s = Math.sin(pos * freq) * mag;
            int a = neox ? i : 2 * i, b = neox ? i + half : 2 * i + 1;
            y[a] = x[a] * c - x[b] * s;
            y[b] = x[a] * s + x[b] * c;
        }
        return y;
    }

    @ParameterizedTest
    @ValueSource(booleans = {true, false})
    void yarnRopeMatchesTheYarnFormulas(boolean neox) {
        int dims = 64;
        float base = neox ? 150000f : 10000f, factor = neox ? 32f : 40f;
        // attn_factor 1: ggml multiplies cos/sin by 1 + 0.1 ln(factor), the YaRN attention factor.
        Rope rope = new Rope(dims, base, 1f / factor, neox, null, new Rope.Yarn(1f, 1f, 32f, 1f, 4096));
        Random r = new Random(1);
        for (int pos : new int[] {0, 1, 5, 37, 300, 900}) {
            float[] v = new float[dims];
            double[] x = new double[dims];
            for (int i = 0; i < dims; i++) x[i] = v[i] = (float) r.nextGaussian();
            rope.apply(v, 0, 1, dims, pos);
            double[] want = hfYarn(x, pos, dims, base, factor, 4096, 32, 1, 1 + 0.1 * Math.log(factor), neox);
            for (int i = 0; i < dims; i++) assertEquals(want[i], v[i], 2e-4 + 1e-6 * pos, "pos " + pos + " dim " + i);
        }
    }

    private GgufFile yarnConfigFile(String arch, float factor, Float logMul) throws IOException {
        GgufWriter g = new GgufWriter().putString("general.architecture", arch)
                .putUInt32(arch + ".embedding_length", 32).putUInt32(arch + ".block_count", 1)
                .putUInt32(arch + ".attention.head_count", 4).putUInt32(arch + ".context_length", 163840)
                .putString(arch + ".rope.scaling.type", "yarn").putFloat32(arch + ".rope.scaling.factor", factor)
                .putUInt32(arch + ".rope.scaling.original_context_length", 4096);
        if (logMul != null) g.putFloat32(arch + ".rope.scaling.yarn_log_multiplier", logMul);
        g.addTensor("token_embd.weight", GgmlType.F32, new long[] {32, 8}, GgufWriter.ofFloats(GgmlType.F32, new float[32 * 8]));
        Path p = dir.resolve(arch + ".gguf");
        g.write(p);
        return GgufFile.open(p);
    }

    @Test
    void deepSeekYarnPutsMscaleSquaredIntoTheScoreScale() throws IOException {
        // DeepSeek-V3: factor 40, mscale = mscale_all_dim = 1.0, stored by convert_hf_to_gguf.py as 0.1 * 1.0.
        try (GgufFile f = yarnConfigFile("deepseek2", 40f, 0.1f)) {
            DecoderConfig c = DecoderConfig.read(f, false);
            double mscale = 0.1 * 1.0 * Math.log(40) + 1; // DeepSeek's yarn_get_mscale(40, 1.0)
            assertEquals(mscale * mscale / Math.sqrt(192), DeepSeek2Model.scoreScale(c, 192), 1e-6);
            // cos/sin get yarn_get_mscale(f, mscale) / yarn_get_mscale(f, mscale_all_dim) = 1.
            float[] v = {1f, 0f};
            c.rope(2, false, null).apply(v, 0, 1, 2, 0);
            assertEquals(1.0, Math.hypot(v[0], v[1]), 1e-6);
        }
    }

    @Test
    void gptOssYarnScalesCosAndSinByTheAttentionFactor() throws IOException {
        try (GgufFile f = yarnConfigFile("gpt-oss", 32f, null)) {
            DecoderConfig c = DecoderConfig.read(f, true);
            float[] v = {0.6f, 0.8f};
            c.rope(2, true, null).apply(v, 0, 1, 2, 3);
            assertEquals(1 + 0.1 * Math.log(32), Math.hypot(v[0], v[1]), 1e-6);
        }
    }
}
