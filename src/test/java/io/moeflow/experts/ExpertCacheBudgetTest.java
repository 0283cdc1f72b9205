package io.moeflow.experts;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;

class ExpertCacheBudgetTest {
    @Test
    void parsesUnitsAndShares() {
        assertEquals(2L << 30, ExpertCacheBudget.parse("2GiB", 1));
        assertEquals(2_000_000_000L, ExpertCacheBudget.parse("2GB", 1));
        assertEquals(512L << 20, ExpertCacheBudget.parse(" 512mib ", 1));
        assertEquals(1536L << 20, ExpertCacheBudget.parse("1.5GiB", 1));
        assertEquals(1048576, ExpertCacheBudget.parse("1048576", 1));
        assertEquals(250, ExpertCacheBudget.parse("25%", 1000));
        assertEquals(1000, ExpertCacheBudget.parse("100%", 1000));
        assertEquals(125, ExpertCacheBudget.parse("12.5%", 1000));
    }

    @Test
    void rejectsNonsenseWithTheOptionNamed() {
        for (String bad : new String[] {"", "GiB", "2XB", "0%", "150%", "-5", "0", "abc%"}) {
            var e = assertThrows(IllegalArgumentException.class, () -> ExpertCacheBudget.parse(bad, 1000), bad);
            assertTrue(e.getMessage().contains("--expert-cache"), e.getMessage());
        }
    }

    @Test
    void configOfNullIsResident() {
        assertEquals(ExpertStoreConfig.Mode.RESIDENT, ExpertStoreConfig.of(null).mode());
        assertEquals(ExpertStoreConfig.Mode.RESIDENT, ExpertStoreConfig.of("resident").mode());
        assertEquals(ExpertStoreConfig.Mode.BUDGETED, ExpertStoreConfig.of("25%").mode());
        assertEquals(EvictionPolicy.LRU, EvictionPolicy.parse("lru"));
        assertThrows(IllegalArgumentException.class, () -> EvictionPolicy.parse("fifo"));
    }
}
