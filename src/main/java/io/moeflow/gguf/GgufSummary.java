package io.moeflow.gguf;

import io.moeflow.kernels.Formats;
import io.moeflow.kernels.GgmlType;
import java.util.ArrayList;
import java.util.EnumMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.TreeMap;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/** The human-readable description of a GGUF file printed by {@code ./moeflow inspect}. */
public final class GgufSummary {
    private GgufSummary() {}

    /** MoE expert weight tensors: blk.N.ffn_{gate,up,down,gate_up}_exps.weight, ne = {in, out, n_expert}. */
    private static final Pattern EXPERT_TENSOR = Pattern.compile("blk\\.(\\d+)\\.ffn_(gate|up|down|gate_up)_exps\\.weight");

    public static String describe(GgufFile f) {
        StringBuilder sb = new StringBuilder();
        String arch = f.has("general.architecture") ? f.getString("general.architecture") : null;
        line(sb, "file", f.path() + " (" + bytes(f.fileSize()) + ", GGUF v" + f.version() + ", alignment " + f.alignment() + ")");
        if (f.isSplit()) {
            long total = 0;
            for (GgufFile.Part p : f.parts()) total += p.fileSize();
            line(sb, "parts", f.parts().size() + " files of a split model, " + bytes(total) + " in all");
            for (GgufFile.Part p : f.parts())
                sb.append("  part ").append(p.index() + 1).append(": ").append(p.path().getFileName()).append(", ")
                        .append(bytes(p.fileSize())).append(", ").append(p.tensorCount()).append(" tensors (")
                        .append(bytes(p.tensorBytes())).append(")\n");
        }
        line(sb, "architecture", arch == null ? "(missing)" : arch);
        line(sb, "name", f.has("general.name") ? String.valueOf(f.metadata().get("general.name").value()) : "(none)");

        sb.append("hyper-parameters:\n");
        if (arch != null) {
            String prefix = arch + ".";
            f.metadata().forEach((k, v) -> {
                if (k.startsWith(prefix)) sb.append("  ").append(k).append(" = ").append(v).append('\n');
            });
        }

        GgufValue tokenArray = f.metadata().get("tokenizer.ggml.tokens");
        line(sb, "tokenizer", "model " + scalar(f, "tokenizer.ggml.model") + ", pre " + scalar(f, "tokenizer.ggml.pre")
                + ", vocab " + (tokenArray != null && tokenArray.array() != null ? tokenArray.array().length() : "-")
                + ", bos " + scalar(f, "tokenizer.ggml.bos_token_id") + ", eos " + scalar(f, "tokenizer.ggml.eos_token_id"));

        long total = 0;
        Map<GgmlType, long[]> perType = new EnumMap<>(GgmlType.class); // {count, bytes}
        for (GgufTensor t : f.tensors()) {
            total += t.byteSize();
            long[] c = perType.computeIfAbsent(t.type(), k -> new long[2]);
            c[0]++;
            c[1] += t.byteSize();
        }
        line(sb, "tensors", f.tensors().size() + ", " + bytes(total));
        perType.forEach((type, c) -> sb.append("  ").append(type).append(": ").append(c[0]).append(" tensors, ")
                .append(bytes(c[1])).append(Formats.supports(type) ? "" : " (not supported)").append('\n'));

        int nextn = Architectures.nextnLayers(f);
        int decoderBlocks = arch == null ? Integer.MAX_VALUE : f.getInt(arch + ".block_count", Integer.MAX_VALUE) - nextn;
        describeExperts(f, sb, decoderBlocks);
        if (nextn > 0)
            line(sb, "nextn (MTP) layers", nextn + " (" + blocks(decoderBlocks, nextn) + ", " + Architectures.nextnKey(arch)
                    + "): multi-token-prediction blocks, skipped in decoding as llama.cpp does; a draft model for speculative decoding");

        List<String> problems = new ArrayList<>();
        Architectures.refusal(arch).ifPresent(problems::add);
        f.unsupportedTensorTypes().ifPresent(problems::add);
        line(sb, "supported", problems.isEmpty() ? "yes" : "no — " + String.join("; ", problems));
        return sb.toString();
    }

    private static String blocks(int first, int count) {
        return count == 1 ? "blk." + first : "blk." + first + " .. blk." + (first + count - 1);
    }

    /** Experts per decoder layer and bytes of one expert (its gate, up and down matrices) for MoE files. */
    private static void describeExperts(GgufFile f, StringBuilder sb, int decoderBlocks) {
        Map<Integer, long[]> perLayer = new TreeMap<>(); // layer -> {experts, bytes per expert}
        for (GgufTensor t : f.tensors()) {
            Matcher m = EXPERT_TENSOR.matcher(t.name());
            if (!m.matches() || t.dims() != 3) continue;
            int layer = Integer.parseInt(m.group(1));
            if (layer >= decoderBlocks) continue; // an MTP block's experts are not the decoder's
            long[] l = perLayer.computeIfAbsent(layer, k -> new long[2]);
            l[0] = Math.max(l[0], t.ne(2));
            l[1] += t.bytesPerExpert();
        }
        if (perLayer.isEmpty()) return;
        long minExperts = Long.MAX_VALUE, maxExperts = 0, minBytes = Long.MAX_VALUE, maxBytes = 0;
        for (long[] l : perLayer.values()) {
            minExperts = Math.min(minExperts, l[0]);
            maxExperts = Math.max(maxExperts, l[0]);
            minBytes = Math.min(minBytes, l[1]);
            maxBytes = Math.max(maxBytes, l[1]);
        }
        line(sb, "experts", range(minExperts, maxExperts) + " per layer in " + perLayer.size() + " MoE layers");
        line(sb, "bytes per expert (gate+up+down)",
                minBytes == maxBytes ? bytes(minBytes) : bytes(minBytes) + " .. " + bytes(maxBytes) + " (varies by layer)");
    }

    private static String range(long min, long max) {
        return min == max ? Long.toString(min) : min + ".." + max;
    }

    private static String scalar(GgufFile f, String key) {
        GgufValue v = f.metadata().get(key);
        return v == null ? "-" : v.type() == GgufValueType.STRING ? (String) v.value() : v.toString();
    }

    private static void line(StringBuilder sb, String label, String value) {
        sb.append(label).append(": ").append(value).append('\n');
    }

    /** Exact bytes plus a binary-unit rendering. */
    static String bytes(long n) {
        if (n < 1024) return n + " bytes";
        String[] units = {"KiB", "MiB", "GiB", "TiB"};
        double v = n;
        int u = -1;
        while (v >= 1024 && u < units.length - 1) {
            v /= 1024;
            u++;
        }
        return n + " bytes (" + String.format(Locale.ROOT, "%.1f %s", v, units[u]) + ")";
    }
}
