package io.moeflow.gguf;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;

/** Builds GGUF files byte by byte for tests (including damaged ones the writer would never produce). */
final class GgufBytes {
    private final ByteArrayOutputStream out = new ByteArrayOutputStream();

    /** Magic "GGUF", version, tensor count, metadata count. */
    static GgufBytes header(int version, long tensorCount, long kvCount) {
        return new GgufBytes().raw("GGUF".getBytes(StandardCharsets.US_ASCII)).u32(version).u64(tensorCount).u64(kvCount);
    }

    GgufBytes raw(byte[] b) {
        out.writeBytes(b);
        return this;
    }

    GgufBytes u8(int v) {
        out.write(v);
        return this;
    }

    GgufBytes u16(int v) {
        return u8(v).u8(v >>> 8);
    }

    GgufBytes u32(int v) {
        return u16(v).u16(v >>> 16);
    }

    GgufBytes u64(long v) {
        return u32((int) v).u32((int) (v >>> 32));
    }

    GgufBytes f32(float v) {
        return u32(Float.floatToRawIntBits(v));
    }

    GgufBytes f64(double v) {
        return u64(Double.doubleToRawLongBits(v));
    }

    GgufBytes str(String s) {
        byte[] b = s.getBytes(StandardCharsets.UTF_8);
        return u64(b.length).raw(b);
    }

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

    /** Zero bytes up to the next multiple of {@code alignment}. */
    GgufBytes pad(int alignment) {
        while (out.size() % alignment != 0) out.write(0);
        return this;
    }

    GgufBytes zeros(int n) {
        out.writeBytes(new byte[n]);
        return this;
    }

    int size() {
        return out.size();
    }

    byte[] bytes() {
        return out.toByteArray();
    }

    Path writeTo(Path dir, String name) {
        try {
            return Files.write(dir.resolve(name), bytes());
        } catch (IOException ex) {
            throw new UncheckedIOException(ex);
        }
    }
}
