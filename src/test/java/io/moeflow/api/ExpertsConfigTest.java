package io.moeflow.api;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.moeflow.experts.EvictionPolicy;
import io.moeflow.experts.ExpertCacheBudget;
import io.moeflow.experts.ExpertStoreConfig;
import io.moeflow.loadgen.EngineTarget;
import io.quarkus.runtime.configuration.DurationConverter;
import io.smallrye.config.PropertiesConfigSource;
import io.smallrye.config.SmallRyeConfigBuilder;
import java.time.Duration;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** moeflow.experts.* as the service reads them (the real mapping and its defaults) → the expert store configuration. */
class ExpertsConfigTest {
    static ExpertStoreConfig configOf(Map<String, String> properties) {
        return GgufModelRuntime.expertStoreConfig(mapping(properties).experts());
    }

    static MoeflowConfig mapping(Map<String, String> properties) {
        return new SmallRyeConfigBuilder()
                .withSources(new PropertiesConfigSource(properties, "test", 300))
                .withConverter(Duration.class, 200, new DurationConverter()) // the defaults' "30s", as Quarkus reads it
                .withMapping(MoeflowConfig.class)
                .build().getConfigMapping(MoeflowConfig.class);
    }

    @Test
    void loadgensEngineBaselineRunsTheServicesSchedulerDefaults() {
        assertEquals(EngineTarget.SERVICE_DEFAULTS, GgufModelRuntime.schedulerConfig(mapping(Map.of()).engine()));
    }

    @Test
    void nothingSetIsResident() {
        assertSame(ExpertStoreConfig.RESIDENT, configOf(Map.of()));
        assertSame(ExpertStoreConfig.RESIDENT, configOf(Map.of("moeflow.experts.mode", "resident")));
    }

    @Test
    void aCacheSizeMeansBudgetedWithTheDefaults() {
        ExpertStoreConfig c = configOf(Map.of("moeflow.experts.cache", "25%"));
        assertEquals(ExpertStoreConfig.Mode.BUDGETED, c.mode());
        assertEquals("25%", c.budget());
        assertEquals(EvictionPolicy.LFU, c.policy());
        assertTrue(c.prefetch());
        assertEquals(4, c.ioThreads());
        assertEquals(c, configOf(Map.of("moeflow.experts.cache", "25%", "moeflow.experts.mode", "BUDGETED")).withReaders(c.readers()));
    }

    @Test
    void everyOptionReachesTheStoreConfig() {
        ExpertStoreConfig c = configOf(Map.of("moeflow.experts.cache", "6Gi", "moeflow.experts.policy", "lru",
                "moeflow.experts.prefetch", "false", "moeflow.experts.io-threads", "2", "moeflow.experts.direct-io", "false"));
        assertEquals(ExpertStoreConfig.Mode.BUDGETED, c.mode());
        assertEquals(6L << 30, ExpertCacheBudget.parse(c.budget(), 1));
        assertEquals(EvictionPolicy.LRU, c.policy());
        assertFalse(c.prefetch());
        assertEquals(2, c.ioThreads());
    }

    @Test
    void badValuesNameTheirProperty() {
        Map<Map<String, String>, String> bad = Map.of(
                Map.of("moeflow.experts.cache", "25x"), "moeflow.experts.cache=25x",
                Map.of("moeflow.experts.cache", "150%"), "moeflow.experts.cache=150%",
                Map.of("moeflow.experts.mode", "lazy"), "moeflow.experts.mode=lazy",
                Map.of("moeflow.experts.mode", "budgeted"), "moeflow.experts.cache",
                Map.of("moeflow.experts.mode", "resident", "moeflow.experts.cache", "2GiB"), "moeflow.experts.cache=2GiB",
                Map.of("moeflow.experts.policy", "fifo"), "moeflow.experts.policy=fifo",
                Map.of("moeflow.experts.cache", "1GiB", "moeflow.experts.io-threads", "0"), "moeflow.experts.io-threads=0");
        bad.forEach((props, named) -> {
            var e = assertThrows(IllegalArgumentException.class, () -> configOf(props), props.toString());
            assertTrue(e.getMessage().contains(named), props + ": " + e.getMessage());
            assertFalse(e.getMessage().contains("--expert"), props + " names a command-line flag: " + e.getMessage());
        });
    }

    @Test
    void theCommandLineNamesItsFlags() {
        var e = assertThrows(IllegalArgumentException.class, () -> ExpertStoreConfig.parse(null, "2XB", "lfu", true, 4, true,
                ExpertStoreConfig.OptionNames.FLAGS));
        assertTrue(e.getMessage().startsWith("--expert-cache 2XB: unknown unit"), e.getMessage());
        assertNull(ExpertStoreConfig.parse(null, null, "lfu", true, 4, true, ExpertStoreConfig.OptionNames.FLAGS).budget());
    }
}
