package io.moeflow.gguf;

import io.moeflow.kernels.Formats;
import io.moeflow.kernels.GgmlType;
import io.moeflow.kernels.TensorFormat;
import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.channels.WritableByteChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Set;

/**
 * Writes GGUF v3 files. Metadata and tensor infos are assembled in memory; tensor bytes are streamed from each
 * tensor's {@link TensorData} straight to the file, one tensor at a time, so a model never has to fit in memory.
 * The file appears under its name only once complete (written beside it, then moved).
 */
public final class GgufWriter {
    /** Bytes quantized per step by {@link #ofFloats}: bounds the scratch buffer whatever the tensor size. */
    private static final int CHUNK_BYTES = 1 << 20;

    private final Map<String, GgufValue> metadata = new LinkedHashMap<>();
    private final List<PendingTensor> tensors = new ArrayList<>();
    private final Set<String> tensorNames = new HashSet<>();
    private int alignment = GgufFile.DEFAULT_ALIGNMENT;

    /** Produces exactly {@code byteSize} bytes of one tensor's data. */
    @FunctionalInterface
    public interface TensorData {
        void writeTo(WritableByteChannel out, long byteSize) throws IOException;
    }

    private record PendingTensor(String name, GgmlType type, long[] ne, long byteSize, TensorData data) {}

    public GgufWriter() {}

    /**
     * Alignment of the data section and of every tensor; written as general.alignment when not 32, or when
     * general.alignment was {@link #put} explicitly.
     */
    public GgufWriter alignment(int a) {
        if (a <= 0 || Integer.bitCount(a) != 1 || a > (1 << 30))
            throw new GgufException("alignment " + a + " is not a power of two between 1 and 2^30");
        alignment = a;
        if (metadata.containsKey(GgufFile.ALIGNMENT_KEY)) metadata.put(GgufFile.ALIGNMENT_KEY, GgufValue.ofUInt32(a));
        return this;
    }

    /**
     * Sets a metadata entry (a later put of the same key replaces the value, keeping its position). Putting
     * general.alignment sets {@link #alignment(int)} and keeps the key where it was put (as in copied files).
     */
    public GgufWriter put(String key, GgufValue value) {
        Objects.requireNonNull(key, "key");
        Objects.requireNonNull(value, "value");
        if (key.equals(GgufFile.ALIGNMENT_KEY)) {
            if (!value.type().isInteger()) throw new GgufException(GgufFile.ALIGNMENT_KEY + " must be an integer, not " + value.type());
            long a = (Long) value.value();
            if (a <= 0 || a > Integer.MAX_VALUE) throw new GgufException("alignment " + value + " is not a power of two between 1 and 2^30");
            alignment((int) a);
        }
        metadata.put(key, value);
        return this;
    }

    public GgufWriter putString(String key, String v) { return put(key, GgufValue.ofString(v)); }
    public GgufWriter putUInt8(String key, int v) { return put(key, GgufValue.ofUInt8(v)); }
    public GgufWriter putInt8(String key, int v) { return put(key, GgufValue.ofInt8(v)); }
    public GgufWriter putUInt16(String key, int v) { return put(key, GgufValue.ofUInt16(v)); }
    public GgufWriter putInt16(String key, int v) { return put(key, GgufValue.ofInt16(v)); }
    public GgufWriter putUInt32(String key, long v) { return put(key, GgufValue.ofUInt32(v)); }
    public GgufWriter putInt32(String key, int v) { return put(key, GgufValue.ofInt32(v)); }
    public GgufWriter putUInt64(String key, long v) { return put(key, GgufValue.ofUInt64(v)); }
    public GgufWriter putInt64(String key, long v) { return put(key, GgufValue.ofInt64(v)); }
    public GgufWriter putFloat32(String key, float v) { return put(key, GgufValue.ofFloat32(v)); }
    public GgufWriter putFloat64(String key, double v) { return put(key, GgufValue.ofFloat64(v)); }
    public GgufWriter putBool(String key, boolean v) { return put(key, GgufValue.ofBool(v)); }
    public GgufWriter putStringArray(String key, String[] v) { return put(key, GgufValue.ofStringArray(v)); }
    public GgufWriter putFloatArray(String key, float[] v) { return put(key, GgufValue.ofFloatArray(v)); }
    public GgufWriter putInt32Array(String key, int[] v) { return put(key, GgufValue.ofInt32Array(v)); }
    public GgufWriter putUInt32Array(String key, int[] v) { return put(key, GgufValue.ofUInt32Array(v)); }

    /** Adds a tensor; its data is produced only while {@link #write} runs. */
    public GgufWriter addTensor(String name, GgmlType type, long[] ne, TensorData data) {
        Objects.requireNonNull(name, "name");
        Objects.requireNonNull(type, "type");
        Objects.requireNonNull(data, "data");
        String what = "tensor '" + name + "' " + Arrays.toString(ne) + " " + type;
        if (ne.length < 1 || ne.length > 4) throw new GgufException(what + ": must have 1 to 4 dimensions");
        long elements = 1;
        for (long d : ne) {
            if (d <= 0) throw new GgufException(what + ": dimensions must be positive");
            try {
                elements = Math.multiplyExact(elements, d);
            } catch (ArithmeticException ex) {
                throw new GgufException(what + ": the product of the dimensions overflows");
            }
        }
        if (ne[0] % type.blockSize != 0)
            throw new GgufException(what + ": row length " + ne[0] + " is not a multiple of the " + type + " block size " + type.blockSize);
        long byteSize;
        try {
            byteSize = Math.multiplyExact(elements / type.blockSize, (long) type.typeSize);
        } catch (ArithmeticException ex) {
            throw new GgufException(what + ": byte size overflows");
        }
        if (data instanceof FloatData f && (f.type != type || f.values.length != elements))
            throw new GgufException(what + ": given " + f.values.length + " " + f.type + " values, needs " + elements + " " + type + " values");
        if (data instanceof BytesData b && b.raw.length != byteSize)
            throw new GgufException(what + ": given " + b.raw.length + " bytes, needs " + byteSize);
        if (data instanceof SegmentData s && s.segment.byteSize() != byteSize)
            throw new GgufException(what + ": given a segment of " + s.segment.byteSize() + " bytes, needs " + byteSize);
        if (!tensorNames.add(name)) throw new GgufException("duplicate tensor name '" + name + "'");
        tensors.add(new PendingTensor(name, type, ne.clone(), byteSize, data));
        return this;
    }

    /**
     * Writes the file: header, metadata, tensor infos, padding, then each tensor's bytes (each aligned).
     * A partial file never appears under {@code path}.
     */
    public void write(Path path) throws IOException {
        Map<String, GgufValue> kv = new LinkedHashMap<>(metadata);
        if (alignment != GgufFile.DEFAULT_ALIGNMENT) kv.putIfAbsent(GgufFile.ALIGNMENT_KEY, GgufValue.ofUInt32(alignment));

        GgufEncoder head = new GgufEncoder().u32(GgufFile.MAGIC).u32(3).u64(tensors.size()).u64(kv.size());
        for (Map.Entry<String, GgufValue> e : kv.entrySet()) head.str(e.getKey()).u32(e.getValue().type().id).value(e.getValue());
        long[] relOffsets = new long[tensors.size()];
        long rel = 0;
        for (int i = 0; i < tensors.size(); i++) {
            PendingTensor t = tensors.get(i);
            relOffsets[i] = rel;
            head.str(t.name).u32(t.ne.length);
            for (long d : t.ne) head.u64(d);
            head.u32(t.type.id).u64(rel);
            rel = GgufFile.alignUp(rel + t.byteSize, alignment);
        }
        if (!tensors.isEmpty()) head.pad(alignment); // llama.cpp writes no padding after metadata-only files
        long dataStart = head.size();

        Path tmp = path.resolveSibling(path.getFileName() + ".partial");
        try {
            try (FileChannel ch = FileChannel.open(tmp, StandardOpenOption.CREATE, StandardOpenOption.TRUNCATE_EXISTING, StandardOpenOption.WRITE)) {
                CountingChannel out = new CountingChannel(ch);
                out.write(ByteBuffer.wrap(head.bytes()));
                for (int i = 0; i < tensors.size(); i++) {
                    PendingTensor t = tensors.get(i);
                    long start = dataStart + relOffsets[i];
                    writeZeros(out, start - out.count);
                    t.data.writeTo(out, t.byteSize);
                    long written = out.count - start;
                    if (written != t.byteSize)
                        throw new GgufException("tensor '" + t.name + "': its data wrote " + written + " bytes, expected " + t.byteSize);
                }
            }
            Files.move(tmp, path, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
        } finally {
            Files.deleteIfExists(tmp);
        }
    }

    private static void writeZeros(WritableByteChannel out, long n) throws IOException {
        if (n > 0) out.write(ByteBuffer.allocate((int) n)); // less than one alignment unit
    }

    /** Counts bytes and completes partial writes, so tensor data sources can write however they like. */
    private static final class CountingChannel implements WritableByteChannel {
        private final WritableByteChannel ch;
        long count;

        CountingChannel(WritableByteChannel ch) {
            this.ch = ch;
        }

        @Override
        public int write(ByteBuffer src) throws IOException {
            int n = src.remaining();
            while (src.hasRemaining()) ch.write(src);
            count += n;
            return n;
        }

        @Override public boolean isOpen() { return ch.isOpen(); }

        @Override public void close() {} // the writer owns the file
    }

    /**
     * Tensor data from float values, quantized with ggml's reference quantizer of {@code type}. Quantization
     * works block by block, so converting a chunk of whole blocks at a time gives the same bytes as row by row.
     */
    public static TensorData ofFloats(GgmlType type, float[] values) {
        // fails now, not mid-write, for a type moeflow cannot quantize
        if (!Formats.of(type).quantizes())
            throw new UnsupportedOperationException("moeflow cannot write " + type + ": ggml quantizes it only with an importance matrix");
        return new FloatData(type, values);
    }

    /** Tensor data given as its raw bytes. */
    public static TensorData ofBytes(byte[] raw) {
        return new BytesData(raw);
    }

    /** Tensor data copied from a memory segment, e.g. a tensor of another mapped file (no heap copy). */
    public static TensorData ofSegment(MemorySegment segment) {
        return new SegmentData(segment);
    }

    private record FloatData(GgmlType type, float[] values) implements TensorData {
        @Override
        public void writeTo(WritableByteChannel out, long byteSize) throws IOException {
            if (type.bytesFor(values.length) != byteSize)
                throw new GgufException(values.length + " " + type + " values do not make " + byteSize + " bytes");
            TensorFormat format = Formats.of(type);
            int blocksPerChunk = Math.max(1, CHUNK_BYTES / type.typeSize);
            int valuesPerChunk = blocksPerChunk * type.blockSize;
            byte[] buf = new byte[(int) Math.min(byteSize, (long) blocksPerChunk * type.typeSize)];
            MemorySegment seg = MemorySegment.ofArray(buf);
            for (int off = 0; off < values.length; off += valuesPerChunk) {
                int n = Math.min(valuesPerChunk, values.length - off);
                format.quantize(values, off, n, seg, 0);
                out.write(ByteBuffer.wrap(buf, 0, (int) type.bytesFor(n)));
            }
        }
    }

    private record BytesData(byte[] raw) implements TensorData {
        @Override
        public void writeTo(WritableByteChannel out, long byteSize) throws IOException {
            if (raw.length != byteSize) throw new GgufException(raw.length + " bytes given, " + byteSize + " needed");
            out.write(ByteBuffer.wrap(raw));
        }
    }

    private record SegmentData(MemorySegment segment) implements TensorData {
        @Override
        public void writeTo(WritableByteChannel out, long byteSize) throws IOException {
            if (segment.byteSize() != byteSize) throw new GgufException(segment.byteSize() + " bytes given, " + byteSize + " needed");
            for (long off = 0; off < byteSize; off += CHUNK_BYTES) {
                long n = Math.min(CHUNK_BYTES, byteSize - off);
                out.write(segment.asSlice(off, n).asByteBuffer());
            }
        }
    }
}
