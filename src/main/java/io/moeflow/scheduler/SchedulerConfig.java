package io.moeflow.scheduler;

/**
 * Limits of the batch scheduler. Compute threads are the model's business, not the scheduler's.
 *
 * @param kvCacheBytes   bytes of KV memory for all sequences together (rounded down to whole blocks)
 * @param maxBatchTokens tokens one step may feed: decode tokens first, then prompt chunks
 * @param maxSequences   sequences running at once (decoding or prefilling)
 * @param maxQueued      requests waiting for admission before submit refuses with QueueFullException
 * @param prefixCache    share the KV blocks of common token prefixes between sequences (see {@link BatchScheduler});
 *                       on unless said otherwise
 */
public record SchedulerConfig(long kvCacheBytes, int maxBatchTokens, int maxSequences, int maxQueued, boolean prefixCache) {
    public static final int DEFAULT_MAX_BATCH_TOKENS = 512;
    public static final int DEFAULT_MAX_SEQUENCES = 64;
    public static final int DEFAULT_MAX_QUEUED = 256;

    public SchedulerConfig {
        if (kvCacheBytes <= 0) throw new IllegalArgumentException("kvCacheBytes must be > 0, got " + kvCacheBytes);
        if (maxBatchTokens < 1) throw new IllegalArgumentException("maxBatchTokens must be >= 1, got " + maxBatchTokens);
        if (maxSequences < 1) throw new IllegalArgumentException("maxSequences must be >= 1, got " + maxSequences);
        if (maxQueued < 0) throw new IllegalArgumentException("maxQueued must be >= 0, got " + maxQueued);
    }

    /** With prefix caching on. */
    public SchedulerConfig(long kvCacheBytes, int maxBatchTokens, int maxSequences, int maxQueued) {
        this(kvCacheBytes, maxBatchTokens, maxSequences, maxQueued, true);
    }

    /** This configuration with prefix caching on or off. */
    public SchedulerConfig withPrefixCache(boolean on) {
        return new SchedulerConfig(kvCacheBytes, maxBatchTokens, maxSequences, maxQueued, on);
    }

    /** The defaults (512 tokens per step, 64 sequences, 256 queued) with the given KV memory. */
    public static SchedulerConfig withKvCacheBytes(long kvCacheBytes) {
        return new SchedulerConfig(kvCacheBytes, DEFAULT_MAX_BATCH_TOKENS, DEFAULT_MAX_SEQUENCES, DEFAULT_MAX_QUEUED);
    }
}
