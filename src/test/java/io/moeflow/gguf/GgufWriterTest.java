package io.moeflow.gguf;

import static io.moeflow.gguf.GgufFileTest.assertMessage;
import static org.junit.jupiter.api.Assertions.*;

import io.moeflow.kernels.GgmlType;
import io.moeflow.testing.SharedFiles;
import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

class GgufWriterTest {
    @TempDir Path dir;

    private static GgufValue nested(GgufValue... arrays) {
        return GgufValue.ofArray(GgufValueType.ARRAY, arrays);
    }

    /** One value of every type, the extremes of each integer type, and nested arrays of every element type. */
    private static Map<String, GgufValue> everyValue() {
        Map<String, GgufValue> m = new java.util.LinkedHashMap<>();
        m.put("u8", GgufValue.ofUInt8(255));
        m.put("i8", GgufValue.ofInt8(-128));
        m.put("u16", GgufValue.ofUInt16(65535));
        m.put("i16", GgufValue.ofInt16(-32768));
        m.put("u32", GgufValue.ofUInt32(0xFFFF_FFFFL));
        m.put("i32", GgufValue.ofInt32(Integer.MIN_VALUE));
        m.put("u64", GgufValue.ofUInt64(-1L));
        m.put("i64", GgufValue.ofInt64(Long.MIN_VALUE));
        m.put("f32", GgufValue.ofFloat32(Float.MIN_VALUE));
        m.put("f32.nan", GgufValue.ofFloat32(Float.NaN));
        m.put("f64", GgufValue.ofFloat64(-Double.MAX_VALUE));
        m.put("bool.t", GgufValue.ofBool(true));
        m.put("bool.f", GgufValue.ofBool(false));
        m.put("str", GgufValue.ofString("▁héllo\u0000 wörld 🙂"));
        m.put("str.empty", GgufValue.ofString(""));
        m.put("a.u8", GgufValue.ofArray(GgufValueType.UINT8, new long[] {0, 255}));
        m.put("a.i8", GgufValue.ofArray(GgufValueType.INT8, new long[] {-128, 127}));
        m.put("a.u16", GgufValue.ofArray(GgufValueType.UINT16, new long[] {0, 65535}));
        m.put("a.i16", GgufValue.ofArray(GgufValueType.INT16, new long[] {-32768, 32767}));
        m.put("a.u32", GgufValue.ofUInt32Array(-1, 0, 7));
        m.put("a.i32", GgufValue.ofInt32Array(Integer.MIN_VALUE, Integer.MAX_VALUE));
        m.put("a.u64", GgufValue.ofArray(GgufValueType.UINT64, new long[] {-1L, 0}));
        m.put("a.i64", GgufValue.ofArray(GgufValueType.INT64, new long[] {Long.MIN_VALUE, Long.MAX_VALUE}));
        m.put("a.f32", GgufValue.ofFloatArray(-0f, Float.POSITIVE_INFINITY, 1.5f));
        m.put("a.f64", GgufValue.ofArray(GgufValueType.FLOAT64, new double[] {Math.PI, -0.0}));
        m.put("a.bool", GgufValue.ofArray(GgufValueType.BOOL, new boolean[] {true, false, true}));
        m.put("a.str", GgufValue.ofStringArray("a", "", "日本語"));
        m.put("a.empty", GgufValue.ofArray(GgufValueType.FLOAT32, new float[0]));
        m.put("a.a.str", nested(GgufValue.ofStringArray("x", "y"), GgufValue.ofStringArray(), GgufValue.ofStringArray("z")));
        m.put("a.a.mixed", nested(GgufValue.ofInt32Array(1, 2), GgufValue.ofFloatArray(3f),
                nested(GgufValue.ofArray(GgufValueType.BOOL, new boolean[] {true}), nested())));
        return m;
    }

    @Test
    void everyMetadataTypeRoundTrips() throws IOException {
        GgufWriter w = new GgufWriter();
        everyValue().forEach(w::put);
        Path p = dir.resolve("kv.gguf");
        w.write(p);
        try (GgufFile f = GgufFile.open(p)) {
            assertEquals(3, f.version());
            assertEquals(List.copyOf(everyValue().keySet()), List.copyOf(f.metadata().keySet()));
            everyValue().forEach((k, v) -> assertEquals(v, f.metadata().get(k), k));
            assertEquals(0, f.tensors().size());
            assertFalse(f.has(GgufFile.ALIGNMENT_KEY), "the default alignment is not written");
        }
    }

    @Test
    void convenienceSettersWriteTheNamedTypes() throws IOException {
        Path p = dir.resolve("conv.gguf");
        new GgufWriter().putString("s", "v").putUInt32("u32", 3_000_000_000L).putInt32("i32", -5).putUInt64("u64", 1L << 60)
                .putFloat32("f", 0.25f).putBool("b", true).putStringArray("sa", new String[] {"p", "q"})
                .putFloatArray("fa", new float[] {1, 2}).putInt32Array("ia", new int[] {-1, 1}).putUInt32Array("ua", new int[] {5})
                .putString("s", "replaced").write(p);
        try (GgufFile f = GgufFile.open(p)) {
            assertEquals(List.of("s", "u32", "i32", "u64", "f", "b", "sa", "fa", "ia", "ua"), List.copyOf(f.metadata().keySet()));
            assertEquals("replaced", f.getString("s"));
            assertEquals(GgufValueType.UINT32, f.value("u32").type());
            assertEquals(3_000_000_000L, f.getLong("u32"));
            assertEquals(GgufValueType.INT32, f.value("i32").type());
            assertEquals(GgufValueType.UINT64, f.value("u64").type());
            assertEquals(0.25f, f.getFloat("f"));
            assertTrue(f.getBool("b", false));
            assertArrayEquals(new String[] {"p", "q"}, f.getStringArray("sa"));
            assertArrayEquals(new float[] {1, 2}, f.getFloatArray("fa"));
            assertEquals(GgufValueType.INT32, f.value("ia").array().elementType());
            assertArrayEquals(new int[] {-1, 1}, f.getIntArray("ia"));
            assertEquals(GgufValueType.UINT32, f.value("ua").array().elementType());
            assertArrayEquals(new int[] {5}, f.getIntArray("ua"));
        }
    }

    /** Every ggml type, as raw bytes: its size follows ggml's type traits and the bytes come back unchanged. */
    @Test
    void everyTensorTypeRoundTripsItsBytes() throws IOException {
        Random rnd = new Random(7);
        GgufWriter w = new GgufWriter();
        List<byte[]> raws = new ArrayList<>();
        for (GgmlType t : GgmlType.values()) {
            long[] ne = {2L * t.blockSize, 3};
            byte[] raw = new byte[(int) ((ne[0] / t.blockSize) * t.typeSize * ne[1])];
            rnd.nextBytes(raw);
            raws.add(raw);
            w.addTensor("t." + t, t, ne, GgufWriter.ofBytes(raw));
        }
        Path p = dir.resolve("types.gguf");
        w.write(p);
        try (GgufFile f = GgufFile.open(p)) {
            GgmlType[] types = GgmlType.values();
            assertEquals(types.length, f.tensors().size());
            for (int i = 0; i < types.length; i++) {
                GgufTensor t = f.tensors().get(i);
                assertEquals("t." + types[i], t.name());
                assertEquals(types[i], t.type());
                assertArrayEquals(new long[] {2L * types[i].blockSize, 3}, t.ne());
                assertEquals(raws.get(i).length, t.byteSize());
                assertEquals(0, t.offset() % 32);
                assertArrayEquals(raws.get(i), t.data().toArray(ValueLayout.JAVA_BYTE), t.name());
                assertEquals(3, t.matrix().rows());
            }
        }
    }

    @Test
    void f32TensorsRoundTripTheirValues() throws IOException {
        float[] norm = {1f, -2.5f, 3.25f, Float.MAX_VALUE, -0f};
        float[] experts = new float[8 * 3 * 4]; // ne = {cols 8, rows 3, 4 experts}
        for (int i = 0; i < experts.length; i++) experts[i] = i * 0.5f - 7;
        Path p = dir.resolve("f32.gguf");
        new GgufWriter().putString("general.architecture", "llama")
                .addTensor("norm", GgmlType.F32, new long[] {5}, GgufWriter.ofFloats(GgmlType.F32, norm))
                .addTensor("blk.0.ffn_up_exps.weight", GgmlType.F32, new long[] {8, 3, 4}, GgufWriter.ofFloats(GgmlType.F32, experts))
                .write(p);
        try (GgufFile f = GgufFile.open(p)) {
            assertArrayEquals(norm, f.tensor("norm").toFloats());
            GgufTensor e = f.tensor("blk.0.ffn_up_exps.weight");
            assertArrayEquals(experts, e.toFloats());
            assertEquals(8 * 3 * 4, e.bytesPerExpert());
            var m2 = e.expert(2);
            assertEquals(8, m2.cols());
            assertEquals(3, m2.rows());
            // row 1 of expert 2 starts at value (2 * 3 + 1) * 8
            assertEquals(experts[(2 * 3 + 1) * 8], e.data().get(GgufCursor.F32, m2.rowOffset(1)));
            var whole = e.matrix();
            assertEquals(12, whole.rows());
            assertEquals(8, whole.cols());
        }
    }

    @Test
    void customAlignmentIsWrittenAndHonoured() throws IOException {
        Path p = dir.resolve("a64.gguf");
        new GgufWriter().alignment(64)
                .addTensor("a", GgmlType.F32, new long[] {3}, GgufWriter.ofFloats(GgmlType.F32, new float[] {1, 2, 3}))
                .addTensor("b", GgmlType.F32, new long[] {2}, GgufWriter.ofFloats(GgmlType.F32, new float[] {4, 5}))
                .write(p);
        try (GgufFile f = GgufFile.open(p)) {
            assertEquals(64, f.getLong(GgufFile.ALIGNMENT_KEY));
            assertEquals(64, f.alignment());
            assertEquals(0, f.dataOffset() % 64);
            assertEquals(f.dataOffset() + 64, f.tensor("b").offset());
            assertArrayEquals(new float[] {4, 5}, f.tensor("b").toFloats());
        }
    }

    @Test
    void tensorDataIsStreamedTensorByTensor() throws IOException {
        List<String> order = new ArrayList<>();
        GgufWriter w = new GgufWriter();
        for (String name : new String[] {"x", "y", "z"})
            w.addTensor(name, GgmlType.I8, new long[] {5}, (out, size) -> {
                order.add(name);
                out.write(ByteBuffer.wrap(new byte[] {(byte) name.charAt(0), 1, 2, 3, 4}));
            });
        Path p = dir.resolve("stream.gguf");
        w.write(p);
        assertEquals(List.of("x", "y", "z"), order);
        try (GgufFile f = GgufFile.open(p)) {
            assertEquals('z', f.tensor("z").data().get(ValueLayout.JAVA_BYTE, 0));
        }
    }

    @Test
    void misbehavingTensorDataLeavesNoFile() {
        Path p = dir.resolve("short.gguf");
        GgufWriter w = new GgufWriter().addTensor("w", GgmlType.F32, new long[] {4}, (out, size) -> out.write(ByteBuffer.allocate(12)));
        assertMessage(() -> w.write(p), "'w'", "wrote 12 bytes, expected 16");
        assertFalse(Files.exists(p));
        assertFalse(Files.exists(dir.resolve("short.gguf.partial")));
    }

    @Test
    void invalidTensorsAreRefusedWhenAdded() {
        GgufWriter w = new GgufWriter().addTensor("w", GgmlType.F32, new long[] {2}, GgufWriter.ofBytes(new byte[8]));
        assertMessage(() -> w.addTensor("w", GgmlType.F32, new long[] {2}, GgufWriter.ofBytes(new byte[8])), "duplicate tensor name 'w'");
        assertMessage(() -> w.addTensor("n", GgmlType.F32, new long[] {3}, GgufWriter.ofFloats(GgmlType.F32, new float[2])), "'n'", "given 2");
        assertMessage(() -> w.addTensor("r", GgmlType.F32, new long[] {3}, GgufWriter.ofBytes(new byte[8])), "'r'", "needs 12");
        assertMessage(() -> w.addTensor("q", GgmlType.Q8_0, new long[] {16}, GgufWriter.ofBytes(new byte[34])), "'q'", "block size 32");
        assertMessage(() -> w.addTensor("d", GgmlType.F32, new long[] {}, GgufWriter.ofBytes(new byte[4])), "'d'", "1 to 4");
        assertMessage(() -> w.addTensor("z", GgmlType.F32, new long[] {4, 0}, GgufWriter.ofBytes(new byte[0])), "'z'", "positive");
        assertMessage(() -> w.addTensor("o", GgmlType.F32, new long[] {1L << 40, 1L << 40}, GgufWriter.ofBytes(new byte[0])), "'o'", "overflows");
        assertMessage(() -> new GgufWriter().alignment(48), "alignment 48");
        assertMessage(() -> new GgufWriter().putString(GgufFile.ALIGNMENT_KEY, "64"), "general.alignment");
    }

    @Test
    void valuesCheckTheirTypes() {
        assertThrows(IllegalArgumentException.class, () -> GgufValue.ofUInt8(256));
        assertThrows(IllegalArgumentException.class, () -> GgufValue.ofUInt32(-1));
        assertThrows(IllegalArgumentException.class, () -> new GgufValue(GgufValueType.INT32, 5));
        assertThrows(IllegalArgumentException.class, () -> GgufValue.ofArray(GgufValueType.INT16, new long[] {40000}));
        assertThrows(IllegalArgumentException.class, () -> GgufValue.ofArray(GgufValueType.FLOAT32, new double[1]));
        assertThrows(IllegalArgumentException.class, () -> GgufValue.ofArray(GgufValueType.ARRAY, new GgufValue[] {GgufValue.ofBool(true)}));
    }

    /**
     * Rewriting a reference file (metadata and tensors copied from the mapping) gives back the same bytes:
     * the writer lays files out as llama.cpp's tooling does.
     */
    @ParameterizedTest
    @ValueSource(strings = {"golden/llama-dense-F32/llama-dense-F32.gguf", "golden/qwen3moe-tiny-Q4_K_M/qwen3moe-tiny-Q4_K_M.gguf",
            "models/stories260K/stories260K.gguf", "tokenizer/ggml-vocab-gpt-2.gguf"})
    void rewritingAReferenceFileReproducesItsBytes(String file) throws IOException {
        Path src = SharedFiles.require(file);
        Path copy = dir.resolve("copy.gguf");
        try (GgufFile f = GgufFile.open(src)) {
            GgufWriter w = new GgufWriter().alignment((int) f.alignment());
            f.metadata().forEach(w::put);
            for (GgufTensor t : f.tensors()) w.addTensor(t.name(), t.type(), t.ne(), GgufWriter.ofSegment(t.data()));
            w.write(copy);
        }
        assertEquals(-1, Files.mismatch(src, copy), "first differing byte");
    }

    /**
     * ofFloats quantizes as llama-quantize does: the F32 golden model's matrices quantized to Q8_0 give exactly the
     * bytes of the --pure Q8_0 golden file (same weights, made by llama.cpp).
     */
    @Test
    void ofFloatsQ8_0MatchesLlamaQuantizeBytes() throws IOException {
        Path f32 = SharedFiles.require("golden/llama-dense-F32/llama-dense-F32.gguf");
        Path q8 = SharedFiles.require("golden/llama-dense-Q8_0/llama-dense-Q8_0.gguf");
        Path out = dir.resolve("q8.gguf");
        int quantized = 0;
        try (GgufFile src = GgufFile.open(f32); GgufFile ref = GgufFile.open(q8)) {
            GgufWriter w = new GgufWriter();
            for (GgufTensor t : src.tensors()) {
                GgmlType type = ref.tensor(t.name()).type();
                w.addTensor(t.name(), type, t.ne(), GgufWriter.ofFloats(type, t.toFloats()));
            }
            w.write(out);
            try (GgufFile written = GgufFile.open(out)) {
                for (GgufTensor r : ref.tensors()) {
                    GgufTensor t = written.tensor(r.name());
                    assertEquals(r.type(), t.type());
                    assertEquals(-1, t.data().mismatch(r.data()), r.name());
                    if (r.type() == GgmlType.Q8_0) quantized++;
                }
            }
        }
        assertTrue(quantized > 0);
    }

    @Test
    void ofSegmentCopiesLargeTensorsInChunks() throws IOException {
        int n = (3 << 20) / 4 + 5; // more than one 1 MiB chunk, not a multiple of it
        float[] v = new float[n];
        for (int i = 0; i < n; i++) v[i] = i;
        MemorySegment seg = MemorySegment.ofArray(new byte[4 * n]);
        MemorySegment.copy(v, 0, seg, GgufCursor.F32, 0, n);
        Path p = dir.resolve("big.gguf");
        new GgufWriter().addTensor("big", GgmlType.F32, new long[] {n}, GgufWriter.ofSegment(seg)).write(p);
        try (GgufFile f = GgufFile.open(p)) {
            assertArrayEquals(v, f.tensor("big").toFloats());
        }
    }

    /** Floats of a type without a reference quantizer are refused when the data is given, not half-way through a write. */
    @Test
    void floatsOfATypeMoeflowCannotQuantizeAreRefusedUpFront() {
        var e = assertThrows(UnsupportedOperationException.class, () -> GgufWriter.ofFloats(GgmlType.IQ2_XXS, new float[256]));
        assertTrue(e.getMessage().contains("IQ2_XXS") && e.getMessage().contains("importance matrix"), e.getMessage());
        assertThrows(UnsupportedOperationException.class, () -> GgufWriter.ofFloats(GgmlType.NVFP4, new float[64]));
        GgufWriter.ofFloats(GgmlType.IQ4_XS, new float[256]); // IQ4_XS has one
    }
}
