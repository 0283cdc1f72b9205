package io.moeflow.cli;

import io.moeflow.experts.ExpertStoreConfig;
import picocli.CommandLine.Option;

/** The expert store options of every subcommand that loads a model (a picocli mixin). */
final class ExpertCacheOptions {
    @Option(names = "--expert-cache", description = "RAM budget for routed experts: bytes (2GiB, 512MB) or a share of the expert bytes (25%%); "
            + "experts are then read from disk on demand. Default: resident (served from the memory-mapped file).")
    String budget;

    @Option(names = "--expert-policy", defaultValue = "lfu", description = "Eviction policy of --expert-cache: lfu (frequency with aging) or lru. Default: ${DEFAULT-VALUE}.")
    String policy;

    @Option(names = "--expert-prefetch", defaultValue = "true", negatable = true, fallbackValue = "true",
            description = "Predict and read the next layer's experts ahead. Default: ${DEFAULT-VALUE}.")
    boolean prefetch;

    @Option(names = "--expert-io-threads", defaultValue = "4", description = "Threads reading experts. Default: ${DEFAULT-VALUE}.")
    int ioThreads;

    @Option(names = "--expert-direct-io", defaultValue = "true", negatable = true, fallbackValue = "true",
            description = "Read experts with O_DIRECT where the file system allows it. Default: ${DEFAULT-VALUE}.")
    boolean direct;

    ExpertStoreConfig config() {
        return ExpertStoreConfig.parse(null, budget, policy, prefetch, ioThreads, direct, ExpertStoreConfig.OptionNames.FLAGS);
    }
}
