package io.moeflow.gguf;

import io.moeflow.kernels.Formats;
import io.moeflow.kernels.GgmlType;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.channels.FileChannel;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.EnumMap;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;

/**
 * A GGUF file (version 2 or 3, little endian), mapped read-only in one piece: metadata is parsed once, tensor
 * data stays in the mapping (zero copy) until {@link #close()}.
 *
 * <p>Every structural problem ends in one {@link GgufException} naming the file, the problem and the key or
 * tensor; counts and lengths are checked against the bytes left before anything is allocated.
 */
public final class GgufFile implements AutoCloseable {
    static final int MAGIC = 0x46554747; // "GGUF" read as a little-endian u32
    public static final int DEFAULT_ALIGNMENT = 32;
    public static final String ALIGNMENT_KEY = "general.alignment";
    /** Smallest metadata entry: empty key (8), type (4), a 1-byte value. */
    private static final int MIN_KV_BYTES = 13;
    /** Smallest tensor info: empty name (8), n_dims (4), one dimension (8), type (4), offset (8). */
    private static final int MIN_TENSOR_INFO_BYTES = 32;
    /** Deeper nesting than this is no real file; the limit keeps recursion off the stack's edge. */
    private static final int MAX_ARRAY_NESTING = 32;
    private static final int MAX_DIMS = 4;

    private final Path path;
    private final Arena arena;
    private final MemorySegment mapping;
    private final int version;
    private final long alignment;
    private final long dataOffset;
    private final Map<String, GgufValue> metadata;
    private final List<GgufTensor> tensors;
    private final Map<String, GgufTensor> tensorsByName;
    private boolean closed;

    private GgufFile(Path path, Arena arena, MemorySegment mapping) {
        this.path = path;
        this.arena = arena;
        this.mapping = mapping;
        GgufCursor in = new GgufCursor(mapping, path.toString());

        int magic = in.i32("magic");
        if (magic != MAGIC)
            throw in.error("not a GGUF file: bad magic 0x" + String.format("%08x", Integer.reverseBytes(magic)) + " (expected \"GGUF\")");
        version = in.i32("version");
        if (version != 2 && version != 3) {
            int swapped = Integer.reverseBytes(version);
            if (swapped >= 1 && swapped <= 3) throw in.error("big-endian GGUF files are not supported");
            throw in.error("unsupported GGUF version " + Integer.toUnsignedString(version) + " (supported: 2 and 3)");
        }
        long tensorCount = in.i64("tensor count");
        long kvCount = in.i64("metadata count");
        if (kvCount < 0 || kvCount > in.remaining() / MIN_KV_BYTES)
            throw in.error("metadata count " + Long.toUnsignedString(kvCount) + " is impossible: only " + in.remaining() + " bytes follow the header");
        if (tensorCount < 0 || tensorCount > (in.remaining() - kvCount * MIN_KV_BYTES) / MIN_TENSOR_INFO_BYTES)
            throw in.error("tensor count " + Long.toUnsignedString(tensorCount) + " is impossible: only " + in.remaining() + " bytes follow the header");

        LinkedHashMap<String, GgufValue> kv = new LinkedHashMap<>();
        for (long i = 0; i < kvCount; i++) {
            String key = in.string("metadata key #" + i);
            String what = "metadata key '" + key + "'";
            int typeId = in.i32(what + " type");
            GgufValueType type = GgufValueType.byId(typeId);
            if (type == null) throw in.error(what + " has unknown value type " + Integer.toUnsignedString(typeId));
            GgufValue value = readValue(in, type, what, 0);
            if (kv.putIfAbsent(key, value) != null) throw in.error("duplicate metadata key '" + key + "'");
        }
        metadata = Collections.unmodifiableMap(kv);
        alignment = readAlignment(in, kv.get(ALIGNMENT_KEY));

        List<GgufTensor> infos = new ArrayList<>((int) tensorCount);
        Map<String, GgufTensor> byName = new HashMap<>();
        long[] relOffsets = new long[(int) tensorCount];
        String[] names = new String[(int) tensorCount];
        GgmlType[] types = new GgmlType[(int) tensorCount];
        long[][] shapes = new long[(int) tensorCount][];
        Set<String> seenNames = new HashSet<>();
        for (int i = 0; i < tensorCount; i++) {
            String name = in.string("tensor #" + i + " name");
            String what = "tensor '" + name + "'";
            int nDims = in.i32(what + " n_dims");
            if (nDims < 1 || nDims > MAX_DIMS)
                throw in.error(what + " has n_dims " + Integer.toUnsignedString(nDims) + " (must be 1.." + MAX_DIMS + ")");
            long[] ne = new long[nDims];
            long elements = 1;
            for (int d = 0; d < nDims; d++) {
                ne[d] = in.i64(what + " dimension " + d);
                if (ne[d] <= 0) throw in.error(what + " has dimension " + d + " = " + Long.toUnsignedString(ne[d]) + " (must be positive)");
                try {
                    elements = Math.multiplyExact(elements, ne[d]);
                } catch (ArithmeticException ex) {
                    throw in.error(what + " has too many elements: the product of its dimensions overflows");
                }
            }
            int typeId = in.i32(what + " type");
            GgmlType type = GgmlType.byId(typeId);
            if (type == null) throw in.error(what + " has unknown ggml type id " + Integer.toUnsignedString(typeId));
            long rel = in.i64(what + " offset");
            if (!seenNames.add(name)) throw in.error("duplicate tensor name '" + name + "'");
            names[i] = name;
            types[i] = type;
            shapes[i] = ne;
            relOffsets[i] = rel;
        }
        dataOffset = alignUp(in.position(), alignment);
        long fileSize = mapping.byteSize();
        for (int i = 0; i < tensorCount; i++) {
            String name = names[i];
            GgmlType type = types[i];
            long[] ne = shapes[i];
            String what = "tensor '" + name + "' " + Arrays.toString(ne) + " " + type;
            if (ne[0] % type.blockSize != 0)
                throw in.error(what + ": row length " + ne[0] + " is not a multiple of the " + type + " block size " + type.blockSize);
            long elements = 1;
            for (long d : ne) elements *= d;
            long byteSize;
            try {
                byteSize = Math.multiplyExact(elements / type.blockSize, (long) type.typeSize);
            } catch (ArithmeticException ex) {
                throw in.error(what + ": byte size overflows");
            }
            long rel = relOffsets[i];
            if (rel < 0 || rel > fileSize)
                throw in.error(what + ": data offset " + Long.toUnsignedString(rel) + " is past the end of the file (" + fileSize + " bytes)");
            if (rel % alignment != 0)
                throw in.error(what + ": data offset " + rel + " is not a multiple of the alignment " + alignment);
            long abs = dataOffset + rel;
            if (abs > fileSize || byteSize > fileSize - abs)
                throw in.error(what + ": data [" + abs + ", " + (abs + byteSize) + ") extends past the end of the file ("
                        + fileSize + " bytes; truncated data?)");
            GgufTensor t = new GgufTensor(name, type, ne, abs, byteSize, mapping.asSlice(abs, byteSize));
            infos.add(t);
            byName.put(name, t);
        }
        tensors = Collections.unmodifiableList(infos);
        tensorsByName = byName;
    }

    /**
     * Maps {@code path} read-only (any size, zero copy) and parses its header.
     *
     * @throws GgufException if the file cannot be read or is not a valid GGUF file
     */
    public static GgufFile open(Path path) {
        Arena arena = Arena.ofShared();
        try {
            MemorySegment mapping;
            try (FileChannel ch = FileChannel.open(path, StandardOpenOption.READ)) {
                mapping = ch.map(FileChannel.MapMode.READ_ONLY, 0, ch.size(), arena);
            }
            return new GgufFile(path, arena, mapping);
        } catch (IOException ex) {
            arena.close();
            throw new GgufException(path + ": cannot read: " + ex, ex);
        } catch (RuntimeException | Error ex) {
            arena.close();
            throw ex;
        }
    }

    private static GgufValue readValue(GgufCursor in, GgufValueType type, String what, int depth) {
        return switch (type) {
            case UINT8 -> new GgufValue(type, (long) (in.i8(what) & 0xFF));
            case INT8 -> new GgufValue(type, (long) in.i8(what));
            case UINT16 -> new GgufValue(type, (long) (in.i16(what) & 0xFFFF));
            case INT16 -> new GgufValue(type, (long) in.i16(what));
            case UINT32 -> new GgufValue(type, Integer.toUnsignedLong(in.i32(what)));
            case INT32 -> new GgufValue(type, (long) in.i32(what));
            case UINT64, INT64 -> new GgufValue(type, in.i64(what));
            case FLOAT32 -> new GgufValue(type, in.f32(what));
            case FLOAT64 -> new GgufValue(type, in.f64(what));
            case BOOL -> new GgufValue(type, in.i8(what) != 0);
            case STRING -> new GgufValue(type, in.string(what));
            case ARRAY -> new GgufValue(type, readArray(in, what, depth));
        };
    }

    private static GgufArray readArray(GgufCursor in, String what, int depth) {
        if (depth >= MAX_ARRAY_NESTING) throw in.error(what + ": arrays nested deeper than " + MAX_ARRAY_NESTING + " levels");
        int typeId = in.i32(what + " array element type");
        GgufValueType et = GgufValueType.byId(typeId);
        if (et == null) throw in.error(what + ": array of unknown value type " + Integer.toUnsignedString(typeId));
        long count = in.i64(what + " array length");
        // Check against the bytes left BEFORE allocating: a damaged length must not become a giant array.
        if (count < 0 || count > in.remaining() / et.minBytes)
            throw in.error(what + ": array length " + Long.toUnsignedString(count) + " of " + et + " exceeds the "
                    + in.remaining() + " bytes left in the file");
        if (count > GgufCursor.MAX_JAVA_ARRAY) throw in.error(what + ": array length " + count + " is too large");
        int n = (int) count;
        Object values = switch (et) {
            case UINT8, INT8, UINT16, INT16, UINT32, INT32, UINT64, INT64 -> {
                long[] a = new long[n];
                for (int i = 0; i < n; i++) a[i] = (Long) readValue(in, et, what, depth).value();
                yield a;
            }
            case FLOAT32 -> {
                float[] a = new float[n];
                in.floats(a);
                yield a;
            }
            case FLOAT64 -> {
                double[] a = new double[n];
                in.doubles(a);
                yield a;
            }
            case BOOL -> {
                boolean[] a = new boolean[n];
                for (int i = 0; i < n; i++) a[i] = in.i8(what) != 0;
                yield a;
            }
            case STRING -> {
                String[] a = new String[n];
                for (int i = 0; i < n; i++) a[i] = in.string(what + "[" + i + "]");
                yield a;
            }
            case ARRAY -> {
                GgufValue[] a = new GgufValue[n];
                for (int i = 0; i < n; i++)
                    a[i] = new GgufValue(GgufValueType.ARRAY, readArray(in, what + "[" + i + "]", depth + 1));
                yield a;
            }
        };
        return new GgufArray(et, values);
    }

    private static long readAlignment(GgufCursor in, GgufValue v) {
        if (v == null) return DEFAULT_ALIGNMENT;
        if (!v.type().isInteger()) throw in.error(ALIGNMENT_KEY + " is " + v.type() + ", expected an integer");
        long a = (Long) v.value();
        if (a <= 0 || Long.bitCount(a) != 1 || a > (1 << 30))
            throw in.error(ALIGNMENT_KEY + " = " + v + " is not a power of two between 1 and 2^30");
        return a;
    }

    static long alignUp(long pos, long alignment) {
        return (pos + alignment - 1) / alignment * alignment;
    }

    public Path path() { return path; }

    public int version() { return version; }

    public long fileSize() { return mapping.byteSize(); }

    /** general.alignment, or 32 when absent. */
    public long alignment() { return alignment; }

    /** Absolute offset of the tensor data section. */
    public long dataOffset() { return dataOffset; }

    /** All metadata in file order (unmodifiable). */
    public Map<String, GgufValue> metadata() { return metadata; }

    public boolean has(String key) { return metadata.containsKey(key); }

    /** The value, or a GgufException naming the key if it is absent. */
    public GgufValue value(String key) {
        GgufValue v = metadata.get(key);
        if (v == null) throw new GgufException(path + ": missing metadata key '" + key + "'");
        return v;
    }

    private GgufException wrongType(String key, GgufValue v, String expected) {
        return new GgufException(path + ": metadata key '" + key + "' is " + describeType(v) + ", expected " + expected);
    }

    private static String describeType(GgufValue v) {
        return v.type() == GgufValueType.ARRAY ? "an ARRAY of " + v.array().elementType() : v.type().toString();
    }

    public String getString(String key) {
        GgufValue v = value(key);
        if (v.type() != GgufValueType.STRING) throw wrongType(key, v, "STRING");
        return (String) v.value();
    }

    public String getString(String key, String def) {
        return has(key) ? getString(key) : def;
    }

    public long getLong(String key) {
        GgufValue v = value(key);
        if (!v.type().isInteger()) throw wrongType(key, v, "an integer");
        long l = (Long) v.value();
        if (v.type() == GgufValueType.UINT64 && l < 0)
            throw new GgufException(path + ": metadata key '" + key + "' = " + v + " does not fit in a signed 64-bit integer");
        return l;
    }

    public long getLong(String key, long def) {
        return has(key) ? getLong(key) : def;
    }

    public int getInt(String key) {
        long l = getLong(key);
        if (l < Integer.MIN_VALUE || l > Integer.MAX_VALUE)
            throw new GgufException(path + ": metadata key '" + key + "' = " + l + " does not fit in a 32-bit integer");
        return (int) l;
    }

    public int getInt(String key, int def) {
        return has(key) ? getInt(key) : def;
    }

    public float getFloat(String key) {
        GgufValue v = value(key);
        return switch (v.type()) {
            case FLOAT32 -> (Float) v.value();
            case FLOAT64 -> (float) (double) (Double) v.value();
            case UINT8, INT8, UINT16, INT16, UINT32, INT32, INT64 -> (float) (long) (Long) v.value();
            case UINT64 -> Float.parseFloat(Long.toUnsignedString((Long) v.value()));
            default -> throw wrongType(key, v, "a number");
        };
    }

    public float getFloat(String key, float def) {
        return has(key) ? getFloat(key) : def;
    }

    public boolean getBool(String key, boolean def) {
        GgufValue v = metadata.get(key);
        if (v == null) return def;
        if (v.type() != GgufValueType.BOOL) throw wrongType(key, v, "BOOL");
        return (Boolean) v.value();
    }

    private GgufArray arrayOrNull(String key) {
        GgufValue v = metadata.get(key);
        if (v == null) return null;
        if (v.type() != GgufValueType.ARRAY) throw wrongType(key, v, "an ARRAY");
        return v.array();
    }

    /** The string array, or null if the key is absent. */
    public String[] getStringArray(String key) {
        GgufArray a = arrayOrNull(key);
        if (a == null) return null;
        if (a.elementType() != GgufValueType.STRING) throw wrongType(key, metadata.get(key), "an ARRAY of STRING");
        return ((String[]) a.values()).clone();
    }

    /** The array as floats (from FLOAT32, FLOAT64 or integer elements), or null if the key is absent. */
    public float[] getFloatArray(String key) {
        GgufArray a = arrayOrNull(key);
        if (a == null) return null;
        Object vals = a.values();
        if (vals instanceof float[] f) return f.clone();
        if (vals instanceof double[] d) {
            float[] f = new float[d.length];
            for (int i = 0; i < d.length; i++) f[i] = (float) d[i];
            return f;
        }
        if (vals instanceof long[] l && a.elementType() != GgufValueType.UINT64) {
            float[] f = new float[l.length];
            for (int i = 0; i < l.length; i++) f[i] = l[i];
            return f;
        }
        throw wrongType(key, metadata.get(key), "an ARRAY of numbers");
    }

    /** The array as ints (integer elements that fit in 32 bits), or null if the key is absent. */
    public int[] getIntArray(String key) {
        GgufArray a = arrayOrNull(key);
        if (a == null) return null;
        if (!(a.values() instanceof long[] l)) throw wrongType(key, metadata.get(key), "an ARRAY of integers");
        boolean unsigned64 = a.elementType() == GgufValueType.UINT64; // raw bits: negative means >= 2^63
        int[] out = new int[l.length];
        for (int i = 0; i < l.length; i++) {
            if (l[i] < Integer.MIN_VALUE || l[i] > Integer.MAX_VALUE || unsigned64 && l[i] < 0)
                throw new GgufException(path + ": metadata key '" + key + "' element " + i + " = "
                        + (unsigned64 ? Long.toUnsignedString(l[i]) : l[i]) + " does not fit in a 32-bit integer");
            out[i] = (int) l[i];
        }
        return out;
    }

    /** general.architecture. */
    public String architecture() {
        return getString("general.architecture");
    }

    /** All tensors in file order (unmodifiable). */
    public List<GgufTensor> tensors() { return tensors; }

    public GgufTensor tensor(String name) {
        GgufTensor t = tensorsByName.get(name);
        if (t == null) throw new GgufException(path + ": missing tensor '" + name + "'");
        return t;
    }

    public Optional<GgufTensor> findTensor(String name) {
        return Optional.ofNullable(tensorsByName.get(name));
    }

    /**
     * Empty when moeflow computes with the type of every tensor; else, per type it lacks, the first tensor of that
     * type (and how many more there are), followed by the types it supports: the reason a load refuses the file.
     */
    public Optional<String> unsupportedTensorTypes() {
        Map<GgmlType, GgufTensor> first = new EnumMap<>(GgmlType.class);
        Map<GgmlType, Integer> count = new EnumMap<>(GgmlType.class);
        for (GgufTensor t : tensors) {
            if (Formats.supports(t.type())) continue;
            first.putIfAbsent(t.type(), t);
            count.merge(t.type(), 1, Integer::sum);
        }
        if (first.isEmpty()) return Optional.empty();
        List<String> parts = new ArrayList<>();
        first.forEach((type, t) -> {
            int more = count.get(type) - 1;
            parts.add("tensor '" + t.name() + "' has type " + type + ", which moeflow does not support"
                    + (more == 0 ? "" : " (nor " + more + " more tensor" + (more == 1 ? "" : "s") + " of that type)"));
        });
        return Optional.of(String.join("; ", parts) + "; supported types: " + Formats.supported());
    }

    /** Unmaps the file; tensor data segments become invalid. Closing twice is harmless. */
    @Override
    public synchronized void close() {
        if (closed) return;
        closed = true;
        arena.close();
    }

    @Override
    public String toString() {
        return "GgufFile[" + path + ", v" + version + ", " + metadata.size() + " keys, " + tensors.size() + " tensors]";
    }
}
