package io.moeflow.model;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.moeflow.experts.ExpertStoreConfig;
import io.moeflow.gguf.GgufException;
import io.moeflow.gguf.GgufFile;
import io.moeflow.gguf.GgufSummary;
import io.moeflow.gguf.GgufValue;
import io.moeflow.kernels.WorkerPool;
import io.moeflow.testing.GgufRewrite;
import io.moeflow.testing.SameLogits;
import io.moeflow.testing.Golden;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A model split into parts as llama.cpp's gguf-split writes them (the golden qwen3moe Q8_0 file, rewritten with
 * moeflow's writer into 3 parts: the first with every metadata key, all with the split keys, the tensors spread in
 * file order) gives llama.cpp's logits (the exact-dequantization reference) and, bit for bit, the unsplit file's
 * logits, resident and budgeted (experts then read from the part that holds them); a missing or misnumbered part
 * is refused naming the file; {@code inspect} lists the parts.
 */
class SplitModelTest {
    static final String NAME = "qwen3moe-tiny-Q8_0";
    @TempDir static Path dir;
    static WorkerPool pool;
    static Path golden;
    static List<Path> parts;
    static int[] tokens;
    static float[] reference;

    @BeforeAll
    static void split() throws IOException {
        Golden g = Golden.of(NAME);
        golden = g.gguf();
        tokens = g.tokens();
        reference = g.dequantReferenceLogits();
        try (GgufFile f = GgufFile.open(golden)) {
            parts = GgufRewrite.of(f).writeSplit(dir.resolve("model"), 3);
        }
        pool = new WorkerPool(2);
    }

    @AfterAll
    static void stop() {
        if (pool != null) pool.close();
    }

    @Test
    void partsAreResolvedAsOneModel() {
        try (GgufFile f = GgufFile.open(parts.get(0)); GgufFile plain = GgufFile.open(golden)) {
            assertTrue(f.isSplit());
            assertEquals(3, f.parts().size());
            assertEquals(plain.tensors().size(), f.tensors().size());
            Set<Path> holding = new HashSet<>();
            for (var t : plain.tensors()) {
                var s = f.tensor(t.name());
                assertEquals(t.type(), s.type(), t.name());
                assertEquals(t.data().byteSize(), s.data().byteSize(), t.name());
                assertEquals(-1, t.data().mismatch(s.data()), t.name() + ": same bytes");
                holding.add(s.file());
            }
            assertEquals(Set.copyOf(parts), holding, "every part holds tensors");
            // the experts of the two layers are in different parts
            assertNotEquals(f.tensor("blk.0.ffn_up_exps.weight").file(), f.tensor("blk.1.ffn_down_exps.weight").file());
            assertEquals(plain.getInt("qwen3moe.block_count"), f.getInt("qwen3moe.block_count"), "metadata of the first part");
        }
    }

    @Test
    void splitLogitsAreTheUnsplitOnesResidentAndBudgeted() {
        try (DecoderModel plain = Models.load(golden, pool); DecoderModel split = Models.load(parts.get(0), pool)) {
            float[] s = Logits.compute(split, tokens, false, null);
            GoldenLogitsTest.assertClose(reference, s, "split resident");
            SameLogits.assertSame(plain, split, tokens, false, "split resident vs unsplit");
            for (String budget : new String[] {"100%", "25%"}) {
                try (DecoderModel b = Models.load(parts.get(0), pool, ExpertStoreConfig.budgeted(budget))) {
                    for (int i = 0; i < 2; i++) // warm both paths up (see SameLogits)
                        for (boolean decode : new boolean[] {false, true}) {
                            Logits.compute(plain, tokens, decode, null);
                            Logits.compute(b, tokens, decode, null);
                        }
                    SameLogits.assertSame(plain, b, tokens, false, "split budgeted " + budget + " batch");
                    SameLogits.assertSame(plain, b, tokens, true, "split budgeted " + budget + " decode");
                    assertTrue(b.expertStore().stats().total().bytesRead() > 0);
                }
            }
        }
    }

    @Test
    void inspectListsTheParts() {
        try (GgufFile f = GgufFile.open(parts.get(0))) {
            String s = GgufSummary.describe(f);
            assertTrue(s.contains("parts: 3 files of a split model"), s);
            for (int i = 0; i < 3; i++)
                assertTrue(s.contains("  part " + (i + 1) + ": " + parts.get(i).getFileName() + ", "), s);
            assertTrue(s.endsWith("supported: yes\n"), s);
        }
    }

    @Test
    void aMissingPartIsRefusedNamingIt() throws IOException {
        Path copy = dir.resolve("missing");
        Files.createDirectories(copy);
        Path first = copy.resolve(parts.get(0).getFileName());
        Files.copy(parts.get(0), first);
        Files.copy(parts.get(2), copy.resolve(parts.get(2).getFileName()));
        var e = assertThrows(GgufException.class, () -> GgufFile.open(first));
        Path missing = copy.resolve(parts.get(1).getFileName());
        assertTrue(e.getMessage().contains("part 2 of 3") && e.getMessage().contains(missing.toString()), e.getMessage());
        var m = assertThrows(GgufException.class, () -> Models.load(first, pool));
        assertTrue(m.getMessage().contains(missing.toString()), m.getMessage());
    }

    @Test
    void aMisnumberedPartIsRefused() throws IOException {
        Path copy = dir.resolve("swapped");
        Files.createDirectories(copy);
        for (Path p : parts) Files.copy(p, copy.resolve(p.getFileName()));
        // part 3's file under part 2's name
        Path second = copy.resolve(parts.get(1).getFileName());
        Files.copy(parts.get(2), second, StandardCopyOption.REPLACE_EXISTING);
        var e = assertThrows(GgufException.class, () -> GgufFile.open(copy.resolve(parts.get(0).getFileName())));
        assertTrue(e.getMessage().contains(second.toString()) && e.getMessage().contains("expected part 2 of 3"), e.getMessage());
    }

    @Test
    void openingALaterPartNamesTheFirst() {
        var e = assertThrows(GgufException.class, () -> GgufFile.open(parts.get(1)));
        assertTrue(e.getMessage().contains("is part 2 of 3") && e.getMessage().contains(parts.get(0).toString()), e.getMessage());
    }

    @Test
    void aWrongTensorCountIsRefused() throws IOException {
        List<Path> p;
        try (GgufFile f = GgufFile.open(golden)) {
            p = GgufRewrite.of(f).writeSplit(dir.resolve("count"), 2);
        }
        int n;
        GgufRewrite first;
        try (GgufFile one = GgufFile.open(p.get(0))) {
            n = one.tensors().size();
            first = new GgufRewrite();
            first.metadata.putAll(one.metadata());
            first.put(GgufFile.SPLIT_TENSORS_COUNT, GgufValue.ofInt32(n + 1)); // what gguf-split's header claims
        }
        // part 1 again, with the wrong count and its own tensors (copied from the plain file)
        try (GgufFile plain = GgufFile.open(golden); GgufFile both = GgufFile.open(p.get(0))) {
            GgufRewrite all = GgufRewrite.of(plain);
            for (var t : all.tensors) if (both.tensor(t.name()).file().equals(p.get(0))) first.tensors.add(t);
            Path tmp = dir.resolve("count-part1.gguf");
            first.write(tmp);
            Files.move(tmp, p.get(0), StandardCopyOption.REPLACE_EXISTING);
        }
        var e = assertThrows(GgufException.class, () -> GgufFile.open(p.get(0)));
        assertTrue(e.getMessage().contains(GgufFile.SPLIT_TENSORS_COUNT + " says " + (n + 1) + " tensors"), e.getMessage());
    }
}
