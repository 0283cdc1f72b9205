package io.moeflow.experts;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.moeflow.kernels.WorkerPool;
import io.moeflow.model.DecoderModel;
import io.moeflow.model.Logits;
import io.moeflow.model.Models;
import io.moeflow.testing.SameLogits;
import io.moeflow.testing.Golden;
import java.io.IOException;
import java.nio.file.Path;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * Budgeted mode computes exactly what resident mode computes (bit for bit, same thread count) on the golden MoE
 * models, at budgets of 100 %, 25 %, the experts one token uses in one layer, and a single slot (the MoE block
 * then runs one expert at a time); batch and decode mode, both eviction policies, O_DIRECT and plain reads.
 * Each comparison retries while the kernels warm up ({@link SameLogits}); wrong expert bytes never agree.
 */
class BudgetedLogitsTest {
    static final int TRIES = SameLogits.TRIES;
    static WorkerPool pool;

    @BeforeAll
    static void start() {
        pool = new WorkerPool(2);
    }

    @AfterAll
    static void stop() {
        pool.close();
    }

    @ParameterizedTest
    @ValueSource(strings = {"qwen3moe-tiny-F32", "qwen3moe-tiny-Q8_0", "qwen3moe-tiny-Q4_K_M", "mixtral-tiny-F32", "deepseek2-lite-tiny-F32", "gptoss-tiny-F32"})
    void budgetedLogitsEqualResidentBitForBit(String name) throws IOException {
        Golden g = Golden.of(name);
        Path gguf = g.gguf();
        int[] tokens = g.tokens();
        try (DecoderModel resident = Models.load(gguf, pool)) {
            int used = resident.config().expertUsedCount();
            long slot;
            try (DecoderModel m = Models.load(gguf, pool, ExpertStoreConfig.budgeted("100%"))) {
                slot = m.expertStore().slotBytes();
                for (int i = 0; i < 2; i++) { // warm both paths up
                    Logits.compute(resident, tokens, false, null);
                    Logits.compute(m, tokens, false, null);
                    Logits.compute(m, tokens, true, null);
                }
            }
            String[] budgets = {"100%", "25%", "25%", String.valueOf(used * slot), String.valueOf(slot)};
            EvictionPolicy[] policies = {EvictionPolicy.LFU, EvictionPolicy.LRU, EvictionPolicy.LFU, EvictionPolicy.LFU, EvictionPolicy.LRU};
            for (int c = 0; c < budgets.length; c++) {
                    String budget = budgets[c];
                    EvictionPolicy policy = policies[c];
                    String what = name + " at " + budget + " " + policy;
                    try (DecoderModel m = Models.load(gguf, pool, ExpertStoreConfig.budgeted(budget).withPolicy(policy))) {
                        ExpertStore store = m.expertStore();
                        assertNotNull(store, what);
                        assertSameLogits(resident, m, tokens, false, what + " batch");
                        assertSameLogits(resident, m, tokens, true, what + " decode");
                        ExpertCacheStats s = store.stats();
                        assertTrue(s.allocatedBytes() <= s.budgetBytes(), what + ": " + s.summary());
                        assertTrue(s.usedSlots() <= s.slots(), what + ": " + s.summary());
                        assertTrue(s.total().misses() > 0 && s.total().bytesRead() > 0, what + ": " + s.summary());
                        assertEquals(0, s.tokens() % tokens.length, what + ": tokens through the model (whole sequences only; retries add whole passes)");
                        if (!budget.endsWith("%")) assertEquals(Long.parseLong(budget) / slot, s.slots(), what);
                    }
            }
            // plain (buffered) reads give the same numbers
            var plain = ExpertStoreConfig.budgeted("25%").withReaders(FileExpertReader.factory(false));
            try (DecoderModel m = Models.load(gguf, pool, plain)) {
                assertFalse(m.expertStore().directIo());
                assertSameLogits(resident, m, tokens, false, name + " plain reads batch");
            }
        }
    }

    /** Resident and budgeted logits of the same sequence, bit for bit (see {@link SameLogits} for the retries). */
    static void assertSameLogits(DecoderModel resident, DecoderModel budgeted, int[] tokens, boolean decode, String what) {
        SameLogits.assertSame(resident, budgeted, tokens, decode, what);
    }
}
