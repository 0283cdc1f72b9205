package io.moeflow.gguf;

import static org.junit.jupiter.api.Assertions.*;

import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Metadata decoding and the typed getters, on a file built byte by byte. */
class GgufFileTest {
    @TempDir Path dir;

    private GgufFile openAllTypes() {
        GgufBytes b = GgufBytes.header(3, 0, 18)
                .key("u8", GgufValueType.UINT8).u8(200)
                .key("i8", GgufValueType.INT8).u8(-100)
                .key("u16", GgufValueType.UINT16).u16(60000)
                .key("i16", GgufValueType.INT16).u16(-30000)
                .key("u32", GgufValueType.UINT32).u32(0xF000_0000)
                .key("i32", GgufValueType.INT32).u32(-7)
                .key("f32", GgufValueType.FLOAT32).f32(1e-5f)
                .key("bool", GgufValueType.BOOL).u8(1)
                .key("str", GgufValueType.STRING).str("Grüße ▁ 日本")
                .key("u64", GgufValueType.UINT64).u64(-2L)
                .key("i64", GgufValueType.INT64).u64(1L << 40)
                .key("f64", GgufValueType.FLOAT64).f64(0.1)
                .key("tokens", GgufValueType.ARRAY).u32(GgufValueType.STRING.id).u64(3).str("<s>").str("").str("▁a")
                .key("scores", GgufValueType.ARRAY).u32(GgufValueType.FLOAT32.id).u64(2).f32(-1.5f).f32(2f)
                .key("types", GgufValueType.ARRAY).u32(GgufValueType.INT32.id).u64(3).u32(1).u32(-3).u32(6)
                .key("big", GgufValueType.ARRAY).u32(GgufValueType.UINT64.id).u64(1).u64(-1L)
                .key("flags", GgufValueType.ARRAY).u32(GgufValueType.BOOL.id).u64(2).u8(0).u8(1)
                .key("nested", GgufValueType.ARRAY).u32(GgufValueType.ARRAY.id).u64(2)
                    .u32(GgufValueType.STRING.id).u64(1).str("x")
                    .u32(GgufValueType.UINT16.id).u64(2).u16(1).u16(65535);
        return GgufFile.open(b.writeTo(dir, "all.gguf"));
    }

    @Test
    void everyValueTypeDecodes() {
        try (GgufFile f = openAllTypes()) {
            assertEquals(List.of("u8", "i8", "u16", "i16", "u32", "i32", "f32", "bool", "str", "u64", "i64", "f64",
                    "tokens", "scores", "types", "big", "flags", "nested"), List.copyOf(f.metadata().keySet()));
            assertEquals(200, f.getInt("u8"));
            assertEquals(-100, f.getInt("i8"));
            assertEquals(60000, f.getInt("u16"));
            assertEquals(-30000, f.getInt("i16"));
            assertEquals(0xF000_0000L, f.getLong("u32"));
            assertEquals(-7, f.getInt("i32"));
            assertEquals(1e-5f, f.getFloat("f32"));
            assertTrue(f.getBool("bool", false));
            assertEquals("Grüße ▁ 日本", f.getString("str"));
            assertEquals(-2L, (Long) f.value("u64").value()); // raw bits of 2^64 - 2
            assertEquals("18446744073709551614", f.value("u64").toString());
            assertEquals(1L << 40, f.getLong("i64"));
            assertEquals(0.1f, f.getFloat("f64"));
            assertEquals(0.1, (Double) f.value("f64").value());
            assertArrayEquals(new String[] {"<s>", "", "▁a"}, f.getStringArray("tokens"));
            assertArrayEquals(new float[] {-1.5f, 2f}, f.getFloatArray("scores"));
            assertArrayEquals(new int[] {1, -3, 6}, f.getIntArray("types"));
            assertArrayEquals(new float[] {1, -3, 6}, f.getFloatArray("types"));
            assertArrayEquals(new boolean[] {false, true}, (boolean[]) f.value("flags").array().values());
            GgufValue[] nested = (GgufValue[]) f.value("nested").array().values();
            assertEquals(new GgufArray(GgufValueType.STRING, new String[] {"x"}), nested[0].array());
            assertEquals(new GgufArray(GgufValueType.UINT16, new long[] {1, 65535}), nested[1].array());
            assertEquals(0, f.tensors().size());
        }
    }

    @Test
    void gettersRefuseWhatDoesNotFit() {
        try (GgufFile f = openAllTypes()) {
            assertMessage(() -> f.getInt("u32"), "'u32'", "does not fit in a 32-bit integer");
            assertMessage(() -> f.getLong("u64"), "'u64'", "18446744073709551614");
            assertMessage(() -> f.getInt("str"), "'str'", "STRING", "expected an integer");
            assertMessage(() -> f.getString("u8"), "'u8'", "UINT8", "expected STRING");
            assertMessage(() -> f.getFloat("tokens"), "'tokens'", "ARRAY of STRING");
            assertMessage(() -> f.getBool("u8", true), "'u8'", "expected BOOL");
            assertMessage(() -> f.getStringArray("scores"), "'scores'", "ARRAY of FLOAT32");
            assertMessage(() -> f.getIntArray("tokens"), "'tokens'", "integers");
            assertMessage(() -> f.getIntArray("big"), "'big'", "element 0", "18446744073709551615");
            assertMessage(() -> f.getString("absent"), "missing metadata key 'absent'");
            assertMessage(() -> f.architecture(), "missing metadata key 'general.architecture'");
        }
    }

    @Test
    void defaultsApplyOnlyToAbsentKeys() {
        try (GgufFile f = openAllTypes()) {
            assertEquals(5, f.getInt("absent", 5));
            assertEquals(-200, f.getInt("i8", 5) * 2);
            assertEquals(7L, f.getLong("absent", 7L));
            assertEquals(2.5f, f.getFloat("absent", 2.5f));
            assertEquals("d", f.getString("absent", "d"));
            assertFalse(f.getBool("absent", false));
            assertNull(f.getStringArray("absent"));
            assertNull(f.getFloatArray("absent"));
            assertNull(f.getIntArray("absent"));
            assertMessage(() -> f.getInt("str", 1), "'str'");
            assertThrows(UnsupportedOperationException.class, () -> f.metadata().put("x", GgufValue.ofBool(true)));
        }
    }

    @Test
    void closeIsIdempotentAndOpenOfAMissingFileIsAGgufException() {
        GgufFile f = openAllTypes();
        f.close();
        f.close();
        assertMessage(() -> GgufFile.open(dir.resolve("nope.gguf")), "nope.gguf", "cannot read");
    }

    static void assertMessage(org.junit.jupiter.api.function.Executable call, String... parts) {
        GgufException ex = assertThrows(GgufException.class, call);
        for (String p : parts) assertTrue(ex.getMessage().contains(p), () -> "'" + ex.getMessage() + "' lacks '" + p + "'");
    }
}
