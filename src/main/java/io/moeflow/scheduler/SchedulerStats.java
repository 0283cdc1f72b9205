package io.moeflow.scheduler;

/**
 * Totals since the scheduler started, for metrics and the bench (take two snapshots and subtract). Per-layer
 * arrays are sums over steps: divide by {@code steps} for the mean distinct experts per layer and step.
 *
 * @param steps                       forward steps run
 * @param prefillTokens               prompt tokens fed (including recomputation after preemption)
 * @param decodeTokens                generated tokens fed back
 * @param generatedTokens             tokens sampled
 * @param decodeSteps                 steps that fed decode tokens only
 * @param decodeExpertLoadsPerToken   sum over decode steps of (distinct experts summed over layers ÷ tokens)
 * @param distinctExpertsPerLayer     sum over steps of the distinct experts each layer ran
 * @param expertInvocationsPerLayer   sum over steps of the expert runs per layer (equal to the above when
 *                                    grouping runs each selected expert once per step)
 * @param expertBytes                 expert weight bytes read
 * @param attentionNanos              time in attention (model's count)
 * @param expertNanos                 time in the experts (model's count)
 * @param otherNanos                  the rest of the forward pass (model's count)
 * @param forwardNanos                wall time inside {@code Model.forward}
 * @param schedulingNanos             wall time in the step loop outside forward: batching, sampling, events
 * @param preemptions                 sequences evicted from the KV pool and queued for recomputation
 * @param completed                   requests finished (any reason)
 * @param running                     sequences admitted now
 * @param waiting                     requests waiting for admission now
 * @param kvFreeBlocks                free KV blocks now
 * @param kvTotalBlocks               KV blocks in the pool
 * @param prefixQueriedTokens         tokens of the sequences admitted (prompt, plus generated tokens when
 *                                    re-admitted after preemption) while prefix caching is on: what was looked up
 * @param prefixHitTokens             of those, tokens found in the prefix cache (not fed: their KV was shared)
 * @param kvCachedBlocks              KV blocks registered in the prefix cache now (in use or idle)
 */
public record SchedulerStats(long steps, long prefillTokens, long decodeTokens, long generatedTokens,
                             long decodeSteps, double decodeExpertLoadsPerToken,
                             long[] distinctExpertsPerLayer, long[] expertInvocationsPerLayer, long expertBytes,
                             long attentionNanos, long expertNanos, long otherNanos, long forwardNanos,
                             long schedulingNanos, long preemptions, long completed, int running, int waiting,
                             int kvFreeBlocks, int kvTotalBlocks, long prefixQueriedTokens, long prefixHitTokens,
                             int kvCachedBlocks) {

    /** Without prefix-cache figures (all 0). */
    public SchedulerStats(long steps, long prefillTokens, long decodeTokens, long generatedTokens,
                          long decodeSteps, double decodeExpertLoadsPerToken,
                          long[] distinctExpertsPerLayer, long[] expertInvocationsPerLayer, long expertBytes,
                          long attentionNanos, long expertNanos, long otherNanos, long forwardNanos,
                          long schedulingNanos, long preemptions, long completed, int running, int waiting,
                          int kvFreeBlocks, int kvTotalBlocks) {
        this(steps, prefillTokens, decodeTokens, generatedTokens, decodeSteps, decodeExpertLoadsPerToken,
                distinctExpertsPerLayer, expertInvocationsPerLayer, expertBytes, attentionNanos, expertNanos, otherNanos,
                forwardNanos, schedulingNanos, preemptions, completed, running, waiting, kvFreeBlocks, kvTotalBlocks, 0, 0, 0);
    }

    /** Prefix cache hit tokens ÷ queried tokens; NaN before any lookup (or with prefix caching off). */
    public double prefixHitRate() {
        return prefixQueriedTokens == 0 ? Double.NaN : (double) prefixHitTokens / prefixQueriedTokens;
    }

    /** Mean over decode steps of the experts loaded per token (summed over MoE layers); NaN before any. */
    public double meanDecodeExpertLoadsPerToken() {
        return decodeSteps == 0 ? Double.NaN : decodeExpertLoadsPerToken / decodeSteps;
    }
}
