package io.moeflow.experts;

import java.util.Locale;

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

    /**
     * What the expert options are called where they were given, for error messages: the command line's flags
     * ({@link #FLAGS}) or the service's properties. {@code assign} joins a name and its value as the user wrote
     * them ({@code "--expert-cache 25x"}, {@code "moeflow.experts.cache=25x"}).
     */
    public record OptionNames(String mode, String cache, String policy, String ioThreads, String assign) {
        /** The command line's; it has no mode flag (the cache size alone picks the mode). */
        public static final OptionNames FLAGS = new OptionNames("--expert-cache", "--expert-cache", "--expert-policy",
                "--expert-io-threads", " ");

        public String show(String name, Object value) {
            return name + assign + (value == null ? "" : value);
        }
    }

    /**
     * The one parser of the expert options, for the command line and the service alike. {@code mode} is
     * {@code resident}, {@code budgeted} or null (then a {@code cache} size means budgeted); {@code cache} is the
     * budget ({@code 2GiB}, {@code 25%}; null, blank or {@code resident} for none). Every value is checked here,
     * also the ones resident mode does not use, so a typo fails at start-up rather than when the mode changes;
     * errors name the option as {@code names} calls it.
     */
    public static ExpertStoreConfig parse(String mode, String cache, String policy, boolean prefetch, int ioThreads,
                                          boolean directIo, OptionNames names) {
        boolean sized = cache != null && !cache.isBlank() && !cache.trim().equalsIgnoreCase("resident");
        boolean budgeted = switch (mode == null ? "" : mode.trim().toLowerCase(Locale.ROOT)) {
            case "" -> sized;
            case "resident" -> {
                if (sized) throw new IllegalArgumentException(names.show(names.mode(), mode) + " contradicts "
                        + names.show(names.cache(), cache) + ": a cache size means budgeted mode (drop one of them)");
                yield false;
            }
            case "budgeted" -> {
                if (!sized) throw new IllegalArgumentException(names.show(names.mode(), mode) + " needs a cache size: set "
                        + names.show(names.cache(), "2GiB") + " or " + names.show(names.cache(), "25%"));
                yield true;
            }
            default -> throw new IllegalArgumentException(names.show(names.mode(), mode) + ": unknown expert mode (use resident or budgeted)");
        };
        EvictionPolicy p;
        try {
            p = EvictionPolicy.parse(policy == null ? "" : policy);
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException(names.show(names.policy(), policy) + ": " + e.getMessage(), e);
        }
        if (ioThreads < 1) throw new IllegalArgumentException(names.show(names.ioThreads(), ioThreads) + ": expert I/O threads must be >= 1");
        if (!budgeted) return RESIDENT;
        ExpertCacheBudget.check(cache, names.show(names.cache(), cache));
        return new ExpertStoreConfig(Mode.BUDGETED, cache.trim(), p, prefetch, ioThreads, FileExpertReader.factory(directIo));
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
