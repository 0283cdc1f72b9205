package io.moeflow.kernels;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.moeflow.testing.SharedFiles;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.LinkedHashMap;
import java.util.Map;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * Cross-check with llama.cpp's own quantizer: the golden Q4_K_M files were made by llama-quantize (no imatrix, so
 * ggml's quantize_row_q4_K_ref / q6_K_ref) from the F32 files with the same tensor names. Quantizing the F32 tensors
 * with our quantize() must give the same bytes.
 */
class KQuantLlamaQuantizeTest {

    @ParameterizedTest
    @ValueSource(strings = {"llama-dense", "qwen3moe-tiny"})
    void quantizeReproducesLlamaQuantizeBytes(String model) throws IOException {
        Path f32Path = SharedFiles.require("golden/" + model + "-F32/" + model + "-F32.gguf");
        Path qPath = SharedFiles.require("golden/" + model + "-Q4_K_M/" + model + "-Q4_K_M.gguf");
        try (Arena arena = Arena.ofConfined()) {
            MiniGguf f32 = MiniGguf.open(f32Path, arena);
            MiniGguf q = MiniGguf.open(qPath, arena);
            int tensors = 0;
            long blocks = 0, identical = 0;
            StringBuilder report = new StringBuilder();
            for (var e : q.tensors.entrySet()) {
                MiniGguf.Tensor qt = e.getValue();
                GgmlType type = GgmlType.byId(qt.type);
                if (type != GgmlType.Q4_K && type != GgmlType.Q6_K) continue;
                MiniGguf.Tensor ft = f32.tensors.get(e.getKey());
                assertEquals(GgmlType.F32.id, ft.type, e.getKey() + " in the F32 file");
                int n = (int) qt.elements();
                assertEquals(n, ft.elements(), e.getKey() + " shapes");
                float[] src = new float[n];
                MemorySegment.copy(f32.data, ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN), ft.offset, src, 0, n);
                int bytes = (int) type.bytesFor(n);
                MemorySegment ours = arena.allocate(bytes);
                Formats.of(type).quantize(src, 0, n, ours, 0);
                MemorySegment theirs = q.data.asSlice(qt.offset, bytes);
                long same = 0, nb = n / 256;
                for (long b = 0; b < nb; b++) {
                    long o = b * type.typeSize;
                    if (MemorySegment.mismatch(ours, o, o + type.typeSize, theirs, o, o + type.typeSize) < 0) same++;
                }
                report.append(String.format("%s %s: %d/%d blocks identical%n", e.getKey(), type, same, nb));
                tensors++;
                blocks += nb;
                identical += same;
            }
            System.out.print(model + ":\n" + report);
            assertTrue(tensors >= 3, "expected Q4_K and Q6_K tensors in " + qPath);
            assertEquals(blocks, identical, model + ": blocks differing from llama-quantize:\n" + report);
        }
    }

    /** Just enough of GGUF (v2/v3) to find tensors: header, skipped metadata, tensor infos, aligned data start. */
    static final class MiniGguf {
        record Tensor(long[] dims, int type, long offset) {
            long elements() {
                long n = 1;
                for (long d : dims) n *= d;
                return n;
            }
        }

        final MemorySegment data;
        final Map<String, Tensor> tensors = new LinkedHashMap<>();
        private long pos;

        private MiniGguf(MemorySegment data) {
            this.data = data;
        }

        static MiniGguf open(Path p, Arena arena) throws IOException {
            try (FileChannel ch = FileChannel.open(p, StandardOpenOption.READ)) {
                MiniGguf g = new MiniGguf(ch.map(FileChannel.MapMode.READ_ONLY, 0, ch.size(), arena));
                g.parse();
                return g;
            }
        }

        private int u32() { int v = data.get(ValueLayout.JAVA_INT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN), pos); pos += 4; return v; }
        private long u64() { long v = data.get(ValueLayout.JAVA_LONG_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN), pos); pos += 8; return v; }

        private String str() {
            int len = (int) u64();
            byte[] b = new byte[len];
            MemorySegment.copy(data, ValueLayout.JAVA_BYTE, pos, b, 0, len);
            pos += len;
            return new String(b, StandardCharsets.UTF_8);
        }

        private static final int[] SCALAR_BYTES = {1, 1, 2, 2, 4, 4, 4, 1, -1, -1, 8, 8, 8};

        private long value(int type) {
            if (type == 8) { str(); return 0; }
            if (type == 9) {
                int et = u32();
                long n = u64();
                for (long i = 0; i < n; i++) value(et);
                return 0;
            }
            long v = switch (SCALAR_BYTES[type]) {
                case 1 -> data.get(ValueLayout.JAVA_BYTE, pos) & 0xFF;
                case 2 -> data.get(ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN), pos) & 0xFFFF;
                case 4 -> data.get(ValueLayout.JAVA_INT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN), pos) & 0xFFFFFFFFL;
                default -> data.get(ValueLayout.JAVA_LONG_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN), pos);
            };
            pos += SCALAR_BYTES[type];
            return v;
        }

        private void parse() {
            if (u32() != 0x46554747) throw new IllegalStateException("not a GGUF file");
            u32(); // version
            long nTensors = u64(), nKv = u64();
            long alignment = 32;
            for (long i = 0; i < nKv; i++) {
                String key = str();
                long v = value(u32());
                if (key.equals("general.alignment")) alignment = v;
            }
            for (long i = 0; i < nTensors; i++) {
                String name = str();
                int nd = u32();
                long[] dims = new long[nd];
                for (int d = 0; d < nd; d++) dims[d] = u64();
                int type = u32();
                long off = u64();
                tensors.put(name, new Tensor(dims, type, off));
            }
            long start = (pos + alignment - 1) / alignment * alignment;
            tensors.replaceAll((k, t) -> new Tensor(t.dims, t.type, start + t.offset));
        }
    }
}
