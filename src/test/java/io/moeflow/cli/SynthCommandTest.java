package io.moeflow.cli;

import static org.junit.jupiter.api.Assertions.*;

import io.moeflow.gguf.GgufFile;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class SynthCommandTest {
    @TempDir Path dir;

    private record Result(int code, String err) {}

    private static Result run(String... args) {
        PrintStream old = System.err;
        ByteArrayOutputStream buf = new ByteArrayOutputStream();
        System.setErr(new PrintStream(buf, true, StandardCharsets.UTF_8));
        try {
            int code = Main.run(args);
            return new Result(code, buf.toString(StandardCharsets.UTF_8));
        } finally {
            System.setErr(old);
        }
    }

    private String[] tiny(String... extra) {
        String[] base = {"synth", "--layers", "1", "--embd", "64", "--heads", "2", "--kv-heads", "1", "--head-dim", "32",
                "--experts", "4", "--experts-used", "2", "--expert-ffn", "64", "--ctx", "64"};
        String[] all = new String[base.length + extra.length];
        System.arraycopy(base, 0, all, 0, base.length);
        System.arraycopy(extra, 0, all, base.length, extra.length);
        return all;
    }

    @Test
    void writesAModelWithProgress() throws Exception {
        Path out = dir.resolve("sub/m.gguf");
        Result r = run(tiny("--arch", "qwen3moe", "--type", "Q8_0", "--seed", "9", "--skew", "zipf:1.2", "--out", out.toString()));
        assertEquals(0, r.code(), r.err());
        assertTrue(r.err().contains("synth: tensor "), r.err());
        assertTrue(r.err().contains("synth: wrote " + out), r.err());
        try (GgufFile f = GgufFile.open(out)) {
            assertEquals("qwen3moe", f.architecture());
            assertEquals("synth-qwen3moe", f.getString("general.name"));
            assertEquals(64, f.getInt("qwen3moe.embedding_length"));
            assertEquals(32, f.getInt("qwen3moe.attention.key_length"));
            assertEquals(7, f.getInt("general.file_type"));
            assertEquals("zipf:1.2", f.getString("moeflow.synth.skew"));
            assertEquals(9, f.getLong("moeflow.synth.seed"));
        }
        assertFalse(Files.exists(dir.resolve("sub/m.gguf.partial")));
    }

    @Test
    void badArgumentsGiveOneClearLine() {
        Path out = dir.resolve("x.gguf");
        String o = out.toString();
        assertError(run("synth", "--arch", "gpt2", "--type", "Q8_0", "--out", o), "unknown --arch 'gpt2' (supported: qwen3moe, llama, deepseek2)");
        assertError(run("synth", "--arch", "llama", "--type", "Q5_K_S", "--out", o), "unknown --type 'Q5_K_S' (supported: F32, F16, Q8_0, Q4_K_M, IQ4_NL, IQ4_XS)");
        assertError(run("synth", "--preset", "huge", "--type", "Q8_0", "--out", o), "unknown --preset 'huge'");
        assertError(run("synth", "--type", "Q8_0", "--out", o), "give --arch");
        assertError(run("synth", "--arch", "llama", "--preset", "bench-qwen3moe", "--type", "Q8_0", "--out", o), "contradicts --preset");
        assertError(run(tiny("--arch", "qwen3moe", "--vocab", "32000", "--type", "F32", "--out", o)), "--vocab 32000 does not match");
        assertError(run("synth", "--arch", "qwen3moe", "--heads", "6", "--type", "F32", "--out", o), "--heads 6 must be a multiple of --kv-heads 4");
        assertError(run("synth", "--arch", "qwen3moe", "--experts-used", "65", "--type", "F32", "--out", o), "--experts-used must be in [1, --experts 64]");
        assertError(run(tiny("--arch", "qwen3moe", "--skew", "pareto:2", "--type", "F32", "--out", o)), "unknown key 'pareto'");
        assertError(run("synth", "--arch", "llama", "--layers", "1", "--embd", "48", "--heads", "3", "--kv-heads", "1",
                "--head-dim", "16", "--ffn", "64", "--type", "Q8_0", "--out", o), "row length 48 is not a multiple of the Q8_0 block size 32");
        assertError(run("synth", "--arch", "llama", "--kv-lora-rank", "64", "--type", "F32", "--out", o), "apply to deepseek2 only, not llama");
        assertError(run("synth", "--arch", "deepseek2", "--expert-groups", "5", "--type", "F32", "--out", o),
                "--experts 64 must be a multiple of --expert-groups 5");
        assertError(run("synth", "--arch", "deepseek2", "--kv-heads", "4", "--type", "F32", "--out", o), "--kv-heads must be 1");
        assertError(run("synth", "--arch", "deepseek2", "--skew", "zipf:1.1", "--type", "F32", "--out", o), "--skew is not supported for deepseek2");
        assertFalse(Files.exists(out));
    }

    @Test
    void writesADeepSeek2ModelFromOptions() throws Exception {
        Path out = dir.resolve("ds.gguf");
        Result r = run("synth", "--arch", "deepseek2", "--layers", "2", "--embd", "64", "--heads", "2", "--head-dim", "48",
                "--ffn", "128", "--experts", "8", "--experts-used", "2", "--expert-ffn", "32", "--ctx", "64", "--q-lora-rank", "64",
                "--kv-lora-rank", "32", "--rope-dims", "16", "--v-head-dim", "32", "--expert-groups", "4", "--expert-groups-used", "2",
                "--expert-weights-scale", "1.5", "--type", "Q8_0", "--out", out.toString());
        assertEquals(0, r.code(), r.err());
        try (GgufFile f = GgufFile.open(out)) {
            assertEquals("deepseek2", f.architecture());
            assertEquals("synth-deepseek2", f.getString("general.name"));
            assertEquals(48, f.getInt("deepseek2.attention.key_length")); // latent 32 + rope 16
            assertEquals(48, f.getInt("deepseek2.attention.key_length_mla"));
            assertEquals(32, f.getInt("deepseek2.attention.value_length_mla"));
            assertEquals(1, f.getInt("deepseek2.leading_dense_block_count")); // the preset's
            assertEquals(4, f.getInt("deepseek2.expert_group_count"));
            assertEquals(1.5f, f.getFloat("deepseek2.expert_weights_scale", 0f));
            assertArrayEquals(new long[] {32, 32, 2}, f.tensor("blk.0.attn_k_b.weight").ne()); // qk_nope 48-16, latent, heads
            assertArrayEquals(new long[] {64, 32}, f.tensor("blk.1.ffn_gate_shexp.weight").ne());
        }
    }

    private static void assertError(Result r, String expected) {
        assertEquals(2, r.code(), r.err());
        assertTrue(r.err().startsWith("moeflow: "), r.err());
        assertTrue(r.err().contains(expected), "expected '" + expected + "' in: " + r.err());
    }
}
