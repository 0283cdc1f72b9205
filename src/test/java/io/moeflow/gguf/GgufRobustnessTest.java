package io.moeflow.gguf;

import static org.junit.jupiter.api.Assertions.*;

import io.moeflow.kernels.GgmlType;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/** Damaged files, built byte by byte: each must end in one GgufException with a message naming the problem. */
class GgufRobustnessTest {
    @TempDir Path dir;

    private static final int F32 = GgmlType.F32.id;

    /** Header + two metadata entries, ready for tensor infos. */
    private static GgufBytes start(long tensorCount) {
        return GgufBytes.header(3, tensorCount, 2).kvString("general.architecture", "llama").kvU32("llama.block_count", 1);
    }

    /** A valid file: 2 metadata entries and tensors a [4, 2] and b [8], F32; its last byte is tensor data. */
    private static GgufBytes valid() {
        GgufBytes b = start(2).tensorInfo("a", new long[] {4, 2}, F32, 0).tensorInfo("b", new long[] {8}, F32, 32).pad(32);
        for (int i = 0; i < 8; i++) b.f32(i);
        for (int i = 0; i < 8; i++) b.f32(10 + i);
        return b;
    }

    private GgufException fails(GgufBytes b, String... expectedInMessage) {
        return fails(b.bytes(), expectedInMessage);
    }

    private GgufException fails(byte[] bytes, String... expectedInMessage) {
        Path p = write(bytes);
        GgufException ex = assertThrows(GgufException.class, () -> GgufFile.open(p).close());
        for (String s : expectedInMessage)
            assertTrue(ex.getMessage().contains(s), () -> "message '" + ex.getMessage() + "' lacks '" + s + "'");
        assertTrue(ex.getMessage().contains(p.toString()), "the message names the file: " + ex.getMessage());
        return ex;
    }

    private int fileNo;

    private Path write(byte[] bytes) {
        try {
            return Files.write(dir.resolve("f" + fileNo++ + ".gguf"), bytes);
        } catch (java.io.IOException e) {
            throw new java.io.UncheckedIOException(e);
        }
    }

    @Test
    void validBaselineOpens() {
        try (GgufFile f = GgufFile.open(write(valid().bytes()))) {
            assertEquals(3, f.version());
            assertEquals(2, f.tensors().size());
            assertArrayEquals(new float[] {10, 11, 12, 13, 14, 15, 16, 17}, f.tensor("b").toFloats());
            assertEquals(f.dataOffset() + 32, f.tensor("b").offset());
        }
    }

    @Test
    void version2IsRead() {
        byte[] b = valid().bytes();
        b[4] = 2;
        try (GgufFile f = GgufFile.open(write(b))) {
            assertEquals(2, f.version());
            assertEquals("llama", f.architecture());
        }
    }

    @Test
    void badMagic() {
        byte[] b = valid().bytes();
        b[0] = 'X';
        fails(b, "not a GGUF file", "bad magic");
    }

    @Test
    void emptyFile() {
        fails(new byte[0], "truncated", "magic");
    }

    @ParameterizedTest
    @ValueSource(ints = {0, 1, 4, 1000})
    void unsupportedVersions(int version) {
        byte[] b = valid().bytes();
        b[4] = (byte) version;
        b[5] = (byte) (version >> 8);
        fails(b, "unsupported GGUF version " + version);
    }

    @Test
    void bigEndianFileIsNamedAsSuch() {
        byte[] b = valid().bytes();
        b[4] = 0;
        b[7] = 3;
        fails(b, "big-endian");
    }

    /** Every cut of a valid file fails cleanly: header, metadata, tensor infos, padding and data. */
    @Test
    void everyTruncationFails() {
        byte[] full = valid().bytes();
        for (int len = 0; len < full.length; len++) {
            GgufException ex = fails(Arrays.copyOf(full, len));
            String m = ex.getMessage();
            assertTrue(m.contains("truncated") || m.contains("past the end") || m.contains("exceeds") || m.contains("impossible"),
                    "cut at " + len + ": " + m);
        }
    }

    @Test
    void truncatedMetadataNamesTheKey() {
        byte[] b = start(0).bytes();
        fails(Arrays.copyOf(b, b.length - 2), "truncated", "llama.block_count");
    }

    @Test
    void truncatedTensorInfoNamesTheTensor() {
        byte[] b = start(1).tensorInfo("blk.0.attn_q.weight", new long[] {4, 4}, F32, 0).bytes();
        fails(Arrays.copyOf(b, b.length - 3), "truncated", "blk.0.attn_q.weight");
    }

    @Test
    void truncatedDataNamesTheTensor() {
        GgufBytes b = start(1).tensorInfo("w", new long[] {64, 64}, F32, 0).pad(32).zeros(100);
        fails(b, "'w'", "past the end");
    }

    @Test
    void stringLength2Pow63() {
        GgufBytes b = GgufBytes.header(3, 0, 1).u64(Long.MIN_VALUE).raw("abc".getBytes()).zeros(16);
        fails(b, "metadata key #0", "9223372036854775808");
    }

    @Test
    void stringLengthLongerThanFile() {
        GgufBytes b = GgufBytes.header(3, 0, 1).key("k", GgufValueType.STRING).u64(1000).raw("short".getBytes());
        fails(b, "'k'", "string length 1000 exceeds");
    }

    @Test
    void stringArrayElementLongerThanFile() {
        GgufBytes b = GgufBytes.header(3, 0, 1).key("tokenizer.ggml.tokens", GgufValueType.ARRAY)
                .u32(GgufValueType.STRING.id).u64(2).str("a").u64(1L << 40).zeros(16);
        fails(b, "'tokenizer.ggml.tokens'[1]", "string length");
    }

    @ParameterizedTest
    @ValueSource(longs = {1L << 40, 1L << 62, Long.MAX_VALUE, -1L, 1000})
    void absurdArrayLengthIsRejectedBeforeAllocating(long count) {
        for (GgufValueType et : GgufValueType.values()) {
            GgufBytes b = GgufBytes.header(3, 0, 1).key("arr", GgufValueType.ARRAY).u32(et.id).u64(count).zeros(64);
            fails(b, "'arr'", "array length " + Long.toUnsignedString(count), "exceeds");
        }
    }

    @Test
    void unknownMetadataValueType() {
        GgufBytes b = GgufBytes.header(3, 0, 1).str("weird.key").u32(13).u32(0);
        fails(b, "'weird.key'", "unknown value type 13");
    }

    @Test
    void unknownArrayElementType() {
        GgufBytes b = GgufBytes.header(3, 0, 1).key("weird.array", GgufValueType.ARRAY).u32(99).u64(1).u32(0);
        fails(b, "'weird.array'", "unknown value type 99");
    }

    @Test
    void deeplyNestedArraysAreRefused() {
        GgufBytes b = GgufBytes.header(3, 0, 1).key("nest", GgufValueType.ARRAY);
        for (int i = 0; i < 100; i++) b.u32(GgufValueType.ARRAY.id).u64(1);
        b.u32(GgufValueType.UINT8.id).u64(0);
        fails(b, "'nest'", "nested deeper");
    }

    @ParameterizedTest
    @ValueSource(ints = {4, 5, 31, 43, 1000, -1})
    void unknownTensorType(int typeId) {
        GgufBytes b = start(1).tensorInfo("blk.0.ffn_up.weight", new long[] {32}, typeId, 0).pad(32).zeros(512);
        fails(b, "'blk.0.ffn_up.weight'", "unknown ggml type id " + Integer.toUnsignedString(typeId));
    }

    @ParameterizedTest
    @ValueSource(ints = {0, 5, 100, -1})
    void badDimensionCount(int nDims) {
        GgufBytes b = start(1).str("t").u32(nDims);
        for (int i = 0; i < 4; i++) b.u64(1);
        b.u32(F32).u64(0).pad(32).zeros(64);
        fails(b, "'t'", "n_dims " + Integer.toUnsignedString(nDims));
    }

    @ParameterizedTest
    @ValueSource(longs = {0, -1, Long.MIN_VALUE})
    void nonPositiveDimension(long d) {
        GgufBytes b = start(1).tensorInfo("t", new long[] {4, d}, F32, 0).pad(32).zeros(64);
        fails(b, "'t'", "dimension 1 = " + Long.toUnsignedString(d));
    }

    @Test
    void dimensionProductOverflows() {
        GgufBytes b = start(1).tensorInfo("t", new long[] {1L << 32, 1L << 32}, F32, 0).pad(32).zeros(64);
        fails(b, "'t'", "overflows");
    }

    @Test
    void byteSizeOverflows() {
        GgufBytes b = start(1).tensorInfo("t", new long[] {1L << 31, 1L << 31}, F32, 0).pad(32).zeros(64);
        fails(b, "'t'", "overflows");
    }

    @Test
    void rowLengthNotAMultipleOfTheBlockSize() {
        GgufBytes b = start(1).tensorInfo("q", new long[] {16, 2}, GgmlType.Q8_0.id, 0).pad(32).zeros(256);
        fails(b, "'q'", "not a multiple of the Q8_0 block size 32");
    }

    @ParameterizedTest
    @ValueSource(longs = {1L << 40, -32, 1024})
    void tensorOffsetPastTheEnd(long offset) {
        GgufBytes b = start(1).tensorInfo("t", new long[] {8}, F32, offset).pad(32).zeros(64);
        fails(b, "'t'", "past the end");
    }

    @Test
    void tensorSizePastTheEnd() {
        GgufBytes b = start(2).tensorInfo("a", new long[] {8}, F32, 0).tensorInfo("b", new long[] {16}, F32, 32).pad(32).zeros(32 + 60);
        fails(b, "'b'", "past the end");
    }

    @Test
    void misalignedTensorOffset() {
        GgufBytes b = start(1).tensorInfo("t", new long[] {8}, F32, 4).pad(32).zeros(64);
        fails(b, "'t'", "not a multiple of the alignment 32");
    }

    @Test
    void customAlignmentIsHonoured() {
        GgufBytes b = GgufBytes.header(3, 1, 1).kvU32("general.alignment", 64).tensorInfo("t", new long[] {8}, F32, 64).pad(64).zeros(64);
        for (int i = 0; i < 8; i++) b.f32(i + 0.5f);
        try (GgufFile f = GgufFile.open(write(b.bytes()))) {
            assertEquals(64, f.alignment());
            assertEquals(0, f.dataOffset() % 64);
            assertEquals(f.dataOffset() + 64, f.tensor("t").offset());
            assertEquals(7.5f, f.tensor("t").toFloats()[7]);
        }
        GgufBytes mis = GgufBytes.header(3, 1, 1).kvU32("general.alignment", 64).tensorInfo("t", new long[] {8}, F32, 32).pad(64).zeros(96);
        fails(mis, "'t'", "alignment 64");
    }

    @ParameterizedTest
    @ValueSource(ints = {0, 3, 48})
    void badAlignment(int a) {
        fails(GgufBytes.header(3, 0, 1).kvU32("general.alignment", a), "general.alignment", "power of two");
    }

    @Test
    void alignmentOfTheWrongType() {
        fails(GgufBytes.header(3, 0, 1).kvString("general.alignment", "32"), "general.alignment", "STRING");
    }

    @Test
    void duplicateKey() {
        GgufBytes b = GgufBytes.header(3, 0, 2).kvU32("llama.block_count", 1).kvU32("llama.block_count", 2);
        fails(b, "duplicate metadata key 'llama.block_count'");
    }

    @Test
    void duplicateTensorName() {
        GgufBytes b = start(2).tensorInfo("w", new long[] {8}, F32, 0).tensorInfo("w", new long[] {8}, F32, 32).pad(32).zeros(64);
        fails(b, "duplicate tensor name 'w'");
    }

    @ParameterizedTest
    @ValueSource(longs = {1000, 1L << 40, Long.MAX_VALUE, -1})
    void absurdTensorCount(long n) {
        byte[] b = valid().bytes();
        byte[] header = GgufBytes.header(3, n, 2).bytes();
        System.arraycopy(header, 0, b, 0, header.length);
        fails(b, "tensor count " + Long.toUnsignedString(n), "impossible");
    }

    @ParameterizedTest
    @ValueSource(longs = {1000, 1L << 40, Long.MAX_VALUE, -1})
    void absurdMetadataCount(long n) {
        byte[] b = valid().bytes();
        byte[] header = GgufBytes.header(3, 2, n).bytes();
        System.arraycopy(header, 0, b, 0, header.length);
        fails(b, "metadata count " + Long.toUnsignedString(n), "impossible");
    }

    /** Offsets beyond 2 GiB work: the whole file is one mapping (sparse file, so nothing big is written). */
    @Test
    void tensorsBeyondTwoGibibytes() throws java.io.IOException {
        long rel = (3L << 30) + 64; // a multiple of 32
        GgufBytes b = start(1).tensorInfo("far", new long[] {4}, F32, rel).pad(32);
        long dataStart = b.bytes().length;
        Path p = write(b.bytes());
        try (java.io.RandomAccessFile raf = new java.io.RandomAccessFile(p.toFile(), "rw")) {
            raf.setLength(dataStart + rel + 16);
            raf.seek(dataStart + rel);
            for (float v : new float[] {1.5f, -2f, 3f, 4.25f}) raf.writeInt(Integer.reverseBytes(Float.floatToRawIntBits(v)));
        }
        try (GgufFile f = GgufFile.open(p)) {
            assertEquals(dataStart + rel + 16, f.fileSize());
            assertEquals(dataStart + rel, f.tensor("far").offset());
            assertArrayEquals(new float[] {1.5f, -2f, 3f, 4.25f}, f.tensor("far").toFloats());
        } finally {
            Files.delete(p);
        }
    }

    /** Random byte damage: the file either still opens or fails with a GgufException, nothing else. */
    @Test
    void randomDamageNeverEscapesAsAnotherException() {
        byte[] full = valid().bytes();
        Random rnd = new Random(20240611);
        int opened = 0, refused = 0;
        for (int iter = 0; iter < 3000; iter++) {
            byte[] b = full.clone();
            int flips = 1 + rnd.nextInt(4);
            for (int i = 0; i < flips; i++) {
                int at = rnd.nextInt(b.length);
                b[at] = rnd.nextBoolean() ? (byte) rnd.nextInt() : (byte) (b[at] ^ (1 << rnd.nextInt(8)));
            }
            Path p = write(b);
            try (GgufFile f = GgufFile.open(p)) {
                for (GgufTensor t : f.tensors()) t.toFloats(); // F32 only, always decodable
                opened++;
            } catch (GgufException expected) {
                refused++;
            }
            try { Files.delete(p); } catch (java.io.IOException ignored) { }
        }
        assertTrue(opened > 0 && refused > 0, "opened " + opened + ", refused " + refused);
    }
}
