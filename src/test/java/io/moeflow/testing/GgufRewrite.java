package io.moeflow.testing;

import io.moeflow.gguf.GgufFile;
import io.moeflow.gguf.GgufTensor;
import io.moeflow.gguf.GgufValue;
import io.moeflow.gguf.GgufWriter;
import io.moeflow.kernels.GgmlType;
import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * A GGUF file's metadata and tensors, to be changed and written again with moeflow's {@link GgufWriter}: the
 * variants real downloads come in (split into parts as gguf-split writes them, fused tensors, appended nextn
 * blocks, extra keys) made from the golden files. Tensor data is copied from the source mapping or given as floats.
 */
public final class GgufRewrite {
    /** One tensor to write. */
    public record Tensor(String name, GgmlType type, long[] ne, GgufWriter.TensorData data) {}

    public final Map<String, GgufValue> metadata = new LinkedHashMap<>();
    public final List<Tensor> tensors = new ArrayList<>();

    /** Everything of {@code f}, tensors in file order (the source must stay open until written). */
    public static GgufRewrite of(GgufFile f) {
        GgufRewrite r = new GgufRewrite();
        r.metadata.putAll(f.metadata());
        for (GgufTensor t : f.tensors()) r.tensors.add(new Tensor(t.name(), t.type(), t.ne(), GgufWriter.ofSegment(t.data())));
        return r;
    }

    public GgufRewrite put(String key, GgufValue value) {
        metadata.put(key, value);
        return this;
    }

    public int indexOf(String name) {
        for (int i = 0; i < tensors.size(); i++) if (tensors.get(i).name().equals(name)) return i;
        throw new IllegalArgumentException("no tensor " + name);
    }

    public Tensor remove(String name) {
        return tensors.remove(indexOf(name));
    }

    /** Adds an F32 tensor at the end. */
    public GgufRewrite addF32(String name, long[] ne, float[] values) {
        tensors.add(new Tensor(name, GgmlType.F32, ne, GgufWriter.ofFloats(GgmlType.F32, values)));
        return this;
    }

    /** Replaces tensor {@code name} (same position) by an F32 tensor. */
    public GgufRewrite replaceF32(String name, String newName, long[] ne, float[] values) {
        tensors.set(indexOf(name), new Tensor(newName, GgmlType.F32, ne, GgufWriter.ofFloats(GgmlType.F32, values)));
        return this;
    }

    private static GgufWriter writer(Map<String, GgufValue> kv) {
        GgufWriter w = new GgufWriter();
        kv.forEach(w::put);
        return w;
    }

    public Path write(Path out) throws IOException {
        GgufWriter w = writer(metadata);
        for (Tensor t : tensors) w.addTensor(t.name(), t.type(), t.ne(), t.data());
        w.write(out);
        return out;
    }

    /**
     * Writes {@code parts} files {@code <prefix>-0000i-of-0000N.gguf} in gguf-split's layout: the first holds every
     * metadata key plus {@code split.no}, {@code split.count}, {@code split.tensors.count}, the others only the
     * three split keys; the tensors, in file order, {@code ceil(n / parts)} per file (as {@code --split-max-tensors}).
     * Returns the paths, first part first.
     */
    public List<Path> writeSplit(Path prefix, int parts) throws IOException {
        int per = (tensors.size() + parts - 1) / parts;
        if (per * (parts - 1) >= tensors.size()) throw new IllegalArgumentException(tensors.size() + " tensors do not fill " + parts + " parts");
        List<Path> out = new ArrayList<>();
        for (int p = 0; p < parts; p++) {
            Map<String, GgufValue> kv = p == 0 ? new LinkedHashMap<>(metadata) : new LinkedHashMap<>();
            kv.put(GgufFile.SPLIT_NO, GgufValue.ofUInt16(p));
            kv.put(GgufFile.SPLIT_COUNT, GgufValue.ofUInt16(parts));
            kv.put(GgufFile.SPLIT_TENSORS_COUNT, GgufValue.ofInt32(tensors.size()));
            GgufWriter w = writer(kv);
            for (Tensor t : tensors.subList(p * per, Math.min(tensors.size(), (p + 1) * per))) w.addTensor(t.name(), t.type(), t.ne(), t.data());
            Path file = Path.of(prefix + String.format("-%05d-of-%05d.gguf", p + 1, parts));
            w.write(file);
            out.add(file);
        }
        return out;
    }
}
