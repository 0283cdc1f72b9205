package io.moeflow.experts;

/**
 * How a model serves its routed experts. {@code RESIDENT}: from the memory-mapped file (the page cache decides
 * what stays in RAM). {@code BUDGETED}: from an {@link ExpertStore} of {@code budget} ({@code 2GiB}, {@code 25%}
 * of the expert bytes; see {@link ExpertCacheBudget}), evicting by {@code policy}, prefetching the next layer's
 * predicted experts when {@code prefetch}, reading on {@code ioThreads} threads through {@code readers}.
 */
public record ExpertStoreConfig(Mode mode, String budget, EvictionPolicy policy, boolean prefetch, int ioThreads,
                                ExpertReader.Factory readers) {
    public enum Mode { RESIDENT, BUDGETED }

    public static final ExpertStoreConfig RESIDENT = new ExpertStoreConfig(Mode.RESIDENT, null, EvictionPolicy.LFU, true, 4, null);

    public ExpertStoreConfig {
        if (mode == null) throw new IllegalArgumentException("expert store mode is missing");
        if (policy == null) throw new IllegalArgumentException("expert eviction policy is missing");
        if (ioThreads < 1) throw new IllegalArgumentException("expert I/O threads must be >= 1, got " + ioThreads);
        if (mode == Mode.BUDGETED && (budget == null || budget.isBlank()))
            throw new IllegalArgumentException("a budgeted expert store needs a size (--expert-cache 2GiB or 25%)");
        if (readers == null) readers = FileExpertReader.factory(true);
    }

    /** A budgeted store of {@code budget} with the default policy (LFU), prefetch on, 4 I/O threads, O_DIRECT reads. */
    public static ExpertStoreConfig budgeted(String budget) {
        return new ExpertStoreConfig(Mode.BUDGETED, budget, EvictionPolicy.LFU, true, 4, null);
    }

    /** {@code RESIDENT} when {@code budget} is null or "resident", else {@link #budgeted}. */
    public static ExpertStoreConfig of(String budget) {
        return budget == null || budget.isBlank() || budget.equalsIgnoreCase("resident") ? RESIDENT : budgeted(budget);
    }

    public ExpertStoreConfig withPolicy(EvictionPolicy p) {
        return new ExpertStoreConfig(mode, budget, p, prefetch, ioThreads, readers);
    }

    public ExpertStoreConfig withPrefetch(boolean on) {
        return new ExpertStoreConfig(mode, budget, policy, on, ioThreads, readers);
    }

    public ExpertStoreConfig withIoThreads(int n) {
        return new ExpertStoreConfig(mode, budget, policy, prefetch, n, readers);
    }

    public ExpertStoreConfig withReaders(ExpertReader.Factory f) {
        return new ExpertStoreConfig(mode, budget, policy, prefetch, ioThreads, f);
    }
}
