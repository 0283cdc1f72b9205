package io.moeflow.api.testing;

import io.moeflow.api.ModelRuntime;
import io.moeflow.scheduler.GenerationEngine;
import jakarta.annotation.Priority;
import jakarta.enterprise.context.ApplicationScoped;
import jakarta.enterprise.inject.Alternative;
import java.util.Arrays;
import java.util.Optional;

/**
 * The model runtime of the @QuarkusTests: the engine wrapped in a {@link ControllableEngine}.
 */
@Alternative
@Priority(1)
@ApplicationScoped
public class TestModelRuntime implements ModelRuntime {
    public static final int CONTEXT = 256;
    private final ControllableEngine engine = new ControllableEngine(new FakeEngine(8, CONTEXT));

    public ControllableEngine control() {
        return engine;
    }

    @Override
    public State state() {
        return State.READY;
    }

    @Override
    public Optional<String> failure() {
        return Optional.empty();
    }

    @Override
    public String modelName() {
        return "fake";
    }

    @Override
    public int contextLength() {
        return CONTEXT;
    }

    @Override
    public int[] encode(String text, boolean addSpecial, boolean parseSpecial) {
        int[] words = Arrays.stream(text.trim().split("\\s+")).filter(w -> !w.isEmpty())
                .mapToInt(w -> Math.floorMod(w.hashCode(), 1000) + 3).toArray();
        if (!addSpecial) return words;
        int[] withBos = new int[words.length + 1];
        withBos[0] = 1;
        System.arraycopy(words, 0, withBos, 1, words.length);
        return withBos;
    }

    @Override
    public Optional<String> chatTemplate() {
        return Optional.empty();
    }

    @Override
    public String bosText() {
        return "<s>";
    }

    @Override
    public String eosText() {
        return "</s>";
    }

    @Override
    public int[] endTokens() {
        return new int[] {2};
    }

    @Override
    public GenerationEngine engine() {
        return engine;
    }
}
