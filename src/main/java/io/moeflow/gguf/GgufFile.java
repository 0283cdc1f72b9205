package io.moeflow.gguf;

import io.moeflow.kernels.Formats;
import io.moeflow.kernels.GgmlType;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
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
import java.util.Locale;
import java.util.Map;
import java.util.Optional;
import java.util.Set;

/**
 * A GGUF file (version 2 or 3, little endian), mapped read-only: metadata is parsed once, tensor data stays in
 * the mapping (zero copy) until {@link #close()}.
 *
 * <p>A model split by llama.cpp's {@code gguf-split} ({@code name-00001-of-0000N.gguf}, with {@code split.no},
 * {@code split.count} and {@code split.tensors.count} in every part) is opened from its first part: every part is
 * mapped (one mapping each), the metadata is the first part's (gguf-split writes all keys there), and the tensors
 * of all parts are resolved by name as one model, each tensor knowing the part that holds it. This is what
 * llama.cpp's model loader does; a missing or misnumbered part is refused naming the file.
 *
 * <p>Every structural problem ends in one {@link GgufException} naming the file, the problem and the key or
 * tensor; counts and lengths are checked against the bytes left before anything is allocated.
 */
public final class GgufFile implements AutoCloseable {
    static final int MAGIC = 0x46554747; // "GGUF" read as a little-endian u32
    public static final int DEFAULT_ALIGNMENT = 32;
    public static final String ALIGNMENT_KEY = "general.alignment";
    /** gguf-split's keys: this part's index (0-based, u16), the number of parts (u16), the tensors of all parts (i32). */
    public static final String SPLIT_NO = "split.no", SPLIT_COUNT = "split.count", SPLIT_TENSORS_COUNT = "split.tensors.count";
    /** Smallest metadata entry: empty key (8), type (4), a 1-byte value. */
    private static final int MIN_KV_BYTES = 13;
    /** Smallest tensor info: empty name (8), n_dims (4), one dimension (8), type (4), offset (8). */
    private static final int MIN_TENSOR_INFO_BYTES = 32;
    /** Deeper nesting than this is no real file; the limit keeps recursion off the stack's edge. */
    private static final int MAX_ARRAY_NESTING = 32;
    private static final int MAX_DIMS = 4;

    /**
     * One file of the model: the whole model, or one part of a split model ({@code index} 0 for the first).
     * {@code tensorBytes} is the data of the tensors it holds.
     */
    public record Part(int index, Path path, long fileSize, int version, long alignment, long dataOffset,
                       int tensorCount, long tensorBytes) {}

    /** What one file's header says; its tensors point into its mapping. */
    private record Header(Path path, MemorySegment mapping, int version, long alignment, long dataOffset,
                          Map<String, GgufValue> metadata, List<GgufTensor> tensors) {}

    private final Path path;
    private final List<Arena> arenas;
    private final List<Part> parts;
    private final Part first;
    private final Map<String, GgufValue> metadata;
    private final List<GgufTensor> tensors;
    private final Map<String, GgufTensor> tensorsByName;
    /** Names asked for through {@link #tensor} or {@link #findTensor} and found. */
    private final Set<String> lookedUp = java.util.concurrent.ConcurrentHashMap.newKeySet();
    private boolean closed;

    private GgufFile(List<Header> headers, List<Arena> arenas) {
        this.arenas = arenas;
        Header h0 = headers.get(0);
        this.path = h0.path();
        this.metadata = h0.metadata();
        List<Part> ps = new ArrayList<>();
        List<GgufTensor> all = new ArrayList<>();
        Map<String, GgufTensor> byName = new HashMap<>();
        for (int i = 0; i < headers.size(); i++) {
            Header h = headers.get(i);
            long bytes = 0;
            for (GgufTensor t : h.tensors()) {
                GgufTensor before = byName.putIfAbsent(t.name(), t);
                if (before != null)
                    throw new GgufException(h.path() + ": tensor '" + t.name() + "' is also in " + before.file() + " (a split model holds each tensor once)");
                all.add(t);
                bytes += t.byteSize();
            }
            ps.add(new Part(i, h.path(), h.mapping().byteSize(), h.version(), h.alignment(), h.dataOffset(), h.tensors().size(), bytes));
        }
        this.parts = Collections.unmodifiableList(ps);
        this.first = ps.get(0);
        this.tensors = Collections.unmodifiableList(all);
        this.tensorsByName = byName;
    }

    private static Header parse(Path path, MemorySegment mapping) {
        GgufCursor in = new GgufCursor(mapping, path.toString());

        int magic = in.i32("magic");
        if (magic != MAGIC)
            throw in.error("not a GGUF file: bad magic 0x" + String.format("%08x", Integer.reverseBytes(magic)) + " (expected \"GGUF\")");
        int version = in.i32("version");
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
        long alignment = readAlignment(in, kv.get(ALIGNMENT_KEY));

        List<GgufTensor> infos = new ArrayList<>((int) tensorCount);
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
        long dataOffset = alignUp(in.position(), alignment);
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
            infos.add(new GgufTensor(name, type, ne, abs, byteSize, mapping.asSlice(abs, byteSize), path));
        }
        return new Header(path, mapping, version, alignment, dataOffset, Collections.unmodifiableMap(kv), infos);
    }

    /**
     * Maps {@code path} read-only (any size, zero copy) and parses its header; for the first part of a split model,
     * every part.
     *
     * @throws GgufException if a file cannot be read or is not a valid GGUF file, or a part of a split model is
     *                       missing or misnumbered
     */
    public static GgufFile open(Path path) {
        List<Arena> arenas = new ArrayList<>();
        try {
            Header h0 = map(path, arenas);
            List<Header> headers = new ArrayList<>(List.of(h0));
            int count = splitValue(h0, SPLIT_COUNT, 0);
            if (count > 1) {
                int no = splitValue(h0, SPLIT_NO, -1);
                if (no < 0) throw new GgufException(path + ": a split model (" + SPLIT_COUNT + " = " + count + ") without " + SPLIT_NO);
                String prefix = splitPrefix(path.toString(), no, count);
                if (no != 0)
                    throw new GgufException(path + ": is part " + (no + 1) + " of " + count + " of a split model; open its first part"
                            + (prefix == null ? "" : " " + splitPath(prefix, 0, count)));
                if (prefix == null)
                    throw new GgufException(path + ": the first part of a split model of " + count + " parts must be named <name>"
                            + String.format(Locale.ROOT, SPLIT_SUFFIX, 1, count) + " (as gguf-split names it), so its other parts can be found");
                for (int i = 1; i < count; i++) {
                    Path p = Path.of(splitPath(prefix, i, count));
                    if (!Files.exists(p))
                        throw new GgufException(path + ": part " + (i + 1) + " of " + count + " of this split model is missing: " + p);
                    Header h = map(p, arenas);
                    int partNo = splitValue(h, SPLIT_NO, -1);
                    if (partNo != i)
                        throw new GgufException(p + ": expected part " + (i + 1) + " of " + count + " of " + path.getFileName() + ", but its "
                                + SPLIT_NO + " is " + (partNo < 0 ? "missing" : partNo + " (part " + (partNo + 1) + ")"));
                    int partCount = splitValue(h, SPLIT_COUNT, -1);
                    if (partCount != count)
                        throw new GgufException(p + ": " + SPLIT_COUNT + " is " + (partCount < 0 ? "missing" : partCount) + ", the first part says " + count);
                    headers.add(h);
                }
                int expected = splitValue(h0, SPLIT_TENSORS_COUNT, -1);
                int found = 0;
                for (Header h : headers) found += h.tensors().size();
                if (expected >= 0 && expected != found)
                    throw new GgufException(path + ": " + SPLIT_TENSORS_COUNT + " says " + expected + " tensors, the " + count + " parts hold " + found);
            }
            return new GgufFile(headers, arenas);
        } catch (RuntimeException | Error ex) {
            for (Arena a : arenas) a.close();
            throw ex;
        }
    }

    /** Maps one file and parses its header; its arena joins {@code arenas} (closed by the caller on failure). */
    private static Header map(Path path, List<Arena> arenas) {
        Arena arena = Arena.ofShared();
        arenas.add(arena);
        MemorySegment mapping;
        try (FileChannel ch = FileChannel.open(path, StandardOpenOption.READ)) {
            mapping = ch.map(FileChannel.MapMode.READ_ONLY, 0, ch.size(), arena);
        } catch (IOException ex) {
            throw new GgufException(path + ": cannot read: " + ex, ex);
        }
        return parse(path, mapping);
    }

    /** gguf-split's part names: {@code <prefix>-00002-of-00004.gguf} for index 1 of 4 (llama.cpp's llama_split_path). */
    private static final String SPLIT_SUFFIX = "-%05d-of-%05d.gguf";

    static String splitPath(String prefix, int index, int count) {
        return prefix + String.format(Locale.ROOT, SPLIT_SUFFIX, index + 1, count);
    }

    /** The prefix of a part's name, or null when it does not end in its own suffix (llama.cpp's llama_split_prefix). */
    static String splitPrefix(String partPath, int index, int count) {
        String suffix = String.format(Locale.ROOT, SPLIT_SUFFIX, index + 1, count);
        return partPath.length() > suffix.length() && partPath.endsWith(suffix) ? partPath.substring(0, partPath.length() - suffix.length()) : null;
    }

    /** An integer split.* key of one part, or {@code absent}. */
    private static int splitValue(Header h, String key, int absent) {
        GgufValue v = h.metadata().get(key);
        if (v == null) return absent;
        if (!v.type().isInteger()) throw new GgufException(h.path() + ": metadata key '" + key + "' is " + v.type() + ", expected an integer");
        long l = (Long) v.value();
        if (l < 0 || l > 65535 && !key.equals(SPLIT_TENSORS_COUNT) || l > Integer.MAX_VALUE)
            throw new GgufException(h.path() + ": metadata key '" + key + "' = " + v + " is out of range");
        return (int) l;
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

    public int version() { return first.version(); }

    /** Bytes of the (first) file. */
    public long fileSize() { return first.fileSize(); }

    /** general.alignment of the (first) file, or 32 when absent. */
    public long alignment() { return first.alignment(); }

    /** Absolute offset of the (first) file's tensor data section. */
    public long dataOffset() { return first.dataOffset(); }

    /** The files of the model: one, or every part of a split model in order. */
    public List<Part> parts() { return parts; }

    /** Whether the model is split into several files. */
    public boolean isSplit() { return parts.size() > 1; }

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
        if (t == null)
            throw new GgufException(path + (isSplit() ? " (and its other " + (parts.size() - 1) + " parts)" : "") + ": missing tensor '" + name + "'");
        lookedUp.add(name);
        return t;
    }

    public Optional<GgufTensor> findTensor(String name) {
        GgufTensor t = tensorsByName.get(name);
        if (t != null) lookedUp.add(name);
        return Optional.ofNullable(t);
    }

    /**
     * The tensors nobody asked for by name ({@link #tensor}, {@link #findTensor}) so far, in file order: after a
     * model is built, the ones it does not use.
     */
    public List<GgufTensor> tensorsNotLookedUp() {
        List<GgufTensor> out = new ArrayList<>();
        for (GgufTensor t : tensors) if (!lookedUp.contains(t.name())) out.add(t);
        return out;
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

    /** Unmaps the file (every part); tensor data segments become invalid. Closing twice is harmless. */
    @Override
    public synchronized void close() {
        if (closed) return;
        closed = true;
        for (Arena a : arenas) a.close();
    }

    @Override
    public String toString() {
        return "GgufFile[" + path + (isSplit() ? " + " + (parts.size() - 1) + " parts" : "") + ", v" + version() + ", "
                + metadata.size() + " keys, " + tensors.size() + " tensors]";
    }
}
