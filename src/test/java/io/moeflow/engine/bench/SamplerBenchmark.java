package io.moeflow.engine.bench;

import io.moeflow.engine.Detokenizer;
import io.moeflow.engine.LogitBias;
import io.moeflow.engine.Sampler;
import io.moeflow.engine.SamplingParams;
import io.moeflow.engine.Sequence;
import io.moeflow.kernels.bench.BenchmarkSettings;
import io.moeflow.scheduler.GenerationRequest;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;

/**
 * One sampling step of one sequence over a Qwen3-sized vocabulary (151936), after a 512-token prompt and 256 generated
 * tokens: the plain chain, the same with the penalties and a 16-entry logit bias (their cost is the distinct counted
 * tokens, not the vocabulary), and with log-probabilities (one pass of exp over the vocabulary in double).
 * {@code kernels/bench.sh SamplerBenchmark}.
 */
@State(Scope.Thread)
public class SamplerBenchmark extends BenchmarkSettings {
    @Param({"greedy", "sampled"})
    public String mode;

    @Param({"plain", "penalties", "logprobs"})
    public String options;

    private static final int VOCAB = 151936;
    private float[] logits;
    private Sampler sampler;
    private Sequence sequence;

    @Setup
    public void setup() {
        SplittableRandom r = new SplittableRandom(1);
        logits = new float[VOCAB];
        for (int i = 0; i < VOCAB; i++) logits[i] = (float) (r.nextGaussian() * 3);
        SamplingParams p = mode.equals("greedy") ? new SamplingParams(0f, 0, 1f, 0f, 7) : new SamplingParams(1f, 0, 1f, 0f, 7);
        if (options.equals("penalties")) {
            Map<Integer, Float> bias = new HashMap<>();
            for (int i = 0; i < 16; i++) bias.put(r.nextInt(VOCAB), -100f);
            p = p.withPenalties(0.5f, 0.5f, 1.1f, 64).withLogitBias(LogitBias.of(bias));
        } else if (options.equals("logprobs")) {
            p = p.withLogprobs(5);
        }
        int[] prompt = new int[512];
        for (int i = 0; i < prompt.length; i++) prompt[i] = r.nextInt(VOCAB);
        int[] generated = new int[256];
        for (int i = 0; i < generated.length; i++) generated[i] = r.nextInt(4000);
        sequence = new Sequence(new GenerationRequest("b", prompt, p, 1_000_000, List.of(), null, true, generated),
                Detokenizer.NONE, 1_000_000);
        sequence.advance(sequence.pending());
        sampler = new Sampler(VOCAB);
    }

    @Benchmark
    public int step() {
        return sequence.sample(sampler, logits, 0);
    }
}
