package io.moeflow.api.testing;

import io.moeflow.api.GgufModelRuntime;
import io.moeflow.api.ModelRuntime;
import io.moeflow.scheduler.GenerationEngine;
import io.moeflow.tokenizer.Tokenizer;
import jakarta.annotation.Priority;
import jakarta.enterprise.context.ApplicationScoped;
import jakarta.enterprise.inject.Alternative;
import jakarta.inject.Inject;
import java.util.Optional;

/**
 * The model runtime of the @QuarkusTests: the real one (the bundled stories260K model and the batch scheduler),
 * with its engine wrapped in a {@link ControllableEngine} so that a test can make the queue full or slow the
 * events down.
 */
@Alternative
@Priority(1)
@ApplicationScoped
public class TestModelRuntime implements ModelRuntime {
    @Inject
    GgufModelRuntime real;

    private volatile ControllableEngine engine;
    private volatile String slowMarker;
    private volatile java.util.concurrent.CountDownLatch slowRelease;

    /**
     * Tokenizing a text that contains {@code marker} blocks until {@code release} is counted down, ignoring
     * interrupts (a preparation that cannot be cut short); null: none.
     */
    public void blockEncoding(String marker, java.util.concurrent.CountDownLatch release) {
        this.slowRelease = release;
        this.slowMarker = marker;
    }

    public ControllableEngine control() {
        return (ControllableEngine) engine();
    }

    @Override
    public State state() {
        return real.state();
    }

    @Override
    public Optional<String> failure() {
        return real.failure();
    }

    @Override
    public String modelName() {
        return real.modelName();
    }

    @Override
    public int contextLength() {
        return real.contextLength();
    }

    @Override
    public int[] encode(String text, boolean addSpecial, boolean parseSpecial) {
        String marker = slowMarker;
        java.util.concurrent.CountDownLatch release = slowRelease;
        if (marker != null && release != null && text.contains(marker)) {
            boolean interrupted = false;
            while (release.getCount() > 0) {
                try {
                    release.await();
                } catch (InterruptedException e) {
                    interrupted = true;
                }
            }
            if (interrupted) Thread.currentThread().interrupt();
        }
        return real.encode(text, addSpecial, parseSpecial);
    }

    @Override
    public Optional<String> chatTemplate() {
        return real.chatTemplate();
    }

    @Override
    public String bosText() {
        return real.bosText();
    }

    @Override
    public String eosText() {
        return real.eosText();
    }

    @Override
    public Tokenizer tokenizer() {
        return real.tokenizer();
    }

    @Override
    public synchronized GenerationEngine engine() {
        if (engine == null) engine = new ControllableEngine(real.engine());
        return engine;
    }
}
