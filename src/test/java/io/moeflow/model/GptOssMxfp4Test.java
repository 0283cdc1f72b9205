package io.moeflow.model;

import io.moeflow.gguf.GgufFile;
import io.moeflow.gguf.GgufTensor;
import io.moeflow.gguf.GgufWriter;
import io.moeflow.kernels.GgmlType;
import io.moeflow.kernels.WorkerPool;
import io.moeflow.testing.Golden;
import java.io.IOException;
import java.nio.file.Path;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * gpt-oss as real files ship it: experts in MXFP4. The golden model with its experts quantized to MXFP4 must
 * give the same logits and routing as an F32 copy holding the exact dequantization of those experts (the
 * MXFP4 kernels, expert biases and clamped SwiGLU together; only the summation order may differ).
 */
class GptOssMxfp4Test {
    @TempDir Path dir;

    @Test
    void mxfp4ExpertsMatchTheirExactDequantization() throws IOException {
        Golden g = Golden.of("gptoss-tiny-F32");
        Path golden = g.gguf();
        Path mxfp4 = dir.resolve("gptoss-mxfp4.gguf"), dequant = dir.resolve("gptoss-dequant.gguf");
        try (GgufFile f = GgufFile.open(golden)) {
            copy(f, mxfp4, null);
        }
        try (GgufFile q = GgufFile.open(mxfp4)) {
            copy(q, dequant, q);
        }
        int[] tokens = g.tokens();
        float[] f32 = g.logits();
        try (WorkerPool pool = new WorkerPool(2);
             DecoderModel a = Models.load(mxfp4, pool); DecoderModel b = Models.load(dequant, pool)) {
            float[] la = Logits.compute(a, tokens, false, null), lb = Logits.compute(b, tokens, false, null);
            GoldenLogitsTest.assertClose(lb, la, "MXFP4 vs dequantized F32, batch");
            GoldenLogitsTest.assertClose(lb, Logits.compute(a, tokens, true, null), "MXFP4 vs dequantized F32, decode");
            // The experts really are quantized: the logits moved away from the F32 model's.
            float moved = 0;
            for (int i = 0; i < f32.length; i++) moved = Math.max(moved, Math.abs(f32[i] - la[i]));
            org.junit.jupiter.api.Assertions.assertTrue(moved > 1e-3f, "MXFP4 logits equal the F32 ones (max diff " + moved + ")");
        }
    }

    /** Copies {@code f}; expert matrices become MXFP4 ({@code dequantizeFrom == null}) or F32 dequantized from it. */
    private static void copy(GgufFile f, Path out, GgufFile dequantizeFrom) throws IOException {
        GgufWriter w = new GgufWriter();
        for (Map.Entry<String, io.moeflow.gguf.GgufValue> e : f.metadata().entrySet())
            if (!e.getKey().equals(GgufFile.ALIGNMENT_KEY)) w.put(e.getKey(), e.getValue());
        for (GgufTensor t : f.tensors()) {
            boolean expert = t.name().endsWith("_exps.weight");
            if (expert && dequantizeFrom == null)
                w.addTensor(t.name(), GgmlType.MXFP4, t.ne(), GgufWriter.ofFloats(GgmlType.MXFP4, t.toFloats()));
            else if (expert)
                w.addTensor(t.name(), GgmlType.F32, t.ne(), GgufWriter.ofFloats(GgmlType.F32, t.toFloats()));
            else
                w.addTensor(t.name(), t.type(), t.ne(), GgufWriter.ofSegment(t.data()));
        }
        w.write(out);
    }
}
