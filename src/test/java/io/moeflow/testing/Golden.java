package io.moeflow.testing;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * One golden model of ../shared/golden/NAME (made by llama.cpp): the GGUF file, its json (token ids, hyper-parameters,
 * router choices) and the logits llama.cpp computed over those tokens. {@link #of} skips the calling test when the
 * directory is absent, as {@link SharedFiles#require} does.
 */
public record Golden(String name, Path dir, JsonNode meta) {
    private static final ObjectMapper JSON = new ObjectMapper();

    public static Golden of(String name) {
        Path dir = SharedFiles.require("golden/" + name);
        try {
            return new Golden(name, dir, JSON.readTree(dir.resolve(name + ".json").toFile()));
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    public Path gguf() {
        return dir.resolve(name + ".gguf");
    }

    /** The prompt llama.cpp evaluated ({@code token_ids}). */
    public int[] tokens() {
        return ints(meta.get("token_ids"));
    }

    /** llama.cpp's logits ({@code NAME.logits.f32}, {@code [tokens][vocab]}). */
    public float[] logits() {
        return readF32(dir.resolve(name + ".logits.f32"));
    }

    /** llama.cpp's logits over the dequantized weights ({@code NAME.logits-dequant-ref.f32}: the reference of a quantized file). */
    public float[] dequantReferenceLogits() {
        return readF32(dir.resolve(name + ".logits-dequant-ref.f32"));
    }

    /** The logits moeflow must give: {@link #logits} for an F32 file, {@link #dequantReferenceLogits} for a quantized one. */
    public float[] referenceLogits() {
        return quantized() ? dequantReferenceLogits() : logits();
    }

    public boolean quantized() {
        return !name.endsWith("F32");
    }

    public static int[] ints(JsonNode arr) {
        int[] a = new int[arr.size()];
        for (int i = 0; i < a.length; i++) a[i] = arr.get(i).asInt();
        return a;
    }

    /** A float32 little-endian file, the layout of llama.cpp's golden logits. */
    public static float[] readF32(Path p) {
        try {
            ByteBuffer b = ByteBuffer.wrap(Files.readAllBytes(p)).order(ByteOrder.LITTLE_ENDIAN);
            float[] f = new float[b.remaining() / 4];
            b.asFloatBuffer().get(f);
            return f;
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }
}
