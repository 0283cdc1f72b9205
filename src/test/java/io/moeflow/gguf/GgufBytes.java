package io.moeflow.gguf;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;

/** Builds GGUF files byte by byte for tests (including damaged ones the writer would never produce). */
final class GgufBytes {
    private final GgufEncoder enc = new GgufEncoder();

    /** Magic "GGUF", version, tensor count, metadata count. */
    static GgufBytes header(int version, long tensorCount, long kvCount) {
        return new GgufBytes().raw("GGUF".getBytes(StandardCharsets.US_ASCII)).u32(version).u64(tensorCount).u64(kvCount);
    }

    GgufBytes raw(byte[] b) { enc.raw(b); return this; }
    GgufBytes u8(int v) { enc.u8(v); return this; }
    GgufBytes u16(int v) { enc.u16(v); return this; }
    GgufBytes u32(int v) { enc.u32(v); return this; }
    GgufBytes u64(long v) { enc.u64(v); return this; }
    GgufBytes f32(float v) { enc.f32(v); return this; }
    GgufBytes f64(double v) { enc.f64(v); return this; }
    GgufBytes str(String s) { enc.str(s); return this; }
    GgufBytes pad(int alignment) { enc.pad(alignment); return this; }
    GgufBytes zeros(int n) { return raw(new byte[n]); }

    /** A metadata entry's key and type; the caller appends the value. */
    GgufBytes key(String key, GgufValueType type) {
        return str(key).u32(type.id);
    }

    GgufBytes kvString(String key, String value) {
        return key(key, GgufValueType.STRING).str(value);
    }

    GgufBytes kvU32(String key, int value) {
        return key(key, GgufValueType.UINT32).u32(value);
    }

    /** A tensor info: name, dims, ggml type id, relative offset. */
    GgufBytes tensorInfo(String name, long[] ne, int typeId, long offset) {
        str(name).u32(ne.length);
        for (long d : ne) u64(d);
        return u32(typeId).u64(offset);
    }

    byte[] bytes() {
        return enc.bytes();
    }

    Path writeTo(Path dir, String name) {
        try {
            return Files.write(dir.resolve(name), bytes());
        } catch (IOException ex) {
            throw new UncheckedIOException(ex);
        }
    }
}
