package io.moeflow.api.testing;

import io.moeflow.scheduler.GenerationEngine;
import io.moeflow.scheduler.GenerationRequest;
import io.moeflow.scheduler.TokenEvent;
import io.smallrye.mutiny.Multi;
import io.smallrye.mutiny.Uni;
import java.time.Duration;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;

/**
 * Wraps the engine under test with the few controls some tests need: refuse every request as if the queue were
 * full (429), deliver events slowly (to disconnect mid-generation), and record which requests were cancelled.
 */
public final class ControllableEngine implements GenerationEngine {
    private final GenerationEngine engine;
    private volatile boolean full;
    private volatile Duration eventDelay = Duration.ZERO;
    private final Set<String> cancelled = ConcurrentHashMap.newKeySet();
    private final Map<String, Integer> submitted = new ConcurrentHashMap<>();
    private final Map<String, Integer> resumedAfter = new ConcurrentHashMap<>();

    public ControllableEngine(GenerationEngine engine) {
        this.engine = engine;
    }

    public void setFull(boolean full) {
        this.full = full;
    }

    public void setEventDelay(Duration delay) {
        this.eventDelay = delay;
    }

    public boolean wasCancelled(String id) {
        return cancelled.contains(id);
    }

    /** How often a request with this id reached the engine. */
    public int submissions(String id) {
        return submitted.getOrDefault(id, 0);
    }

    /** How many published tokens the last submission of {@code id} continued after (0: from the start). */
    public int resumedAfter(String id) {
        return resumedAfter.getOrDefault(id, 0);
    }

    @Override
    public Handle submit(GenerationRequest request) {
        if (full) throw new QueueFullException("the test made the queue full");
        Handle handle = engine.submit(request);
        submitted.merge(request.id(), 1, Integer::sum);
        resumedAfter.put(request.id(), request.resumeTokens().length);
        Duration delay = eventDelay;
        return new Handle() {
            @Override
            public String id() {
                return handle.id();
            }

            @Override
            public Multi<TokenEvent> events() {
                Multi<TokenEvent> events = handle.events();
                if (delay.isZero()) return events;
                return events.onItem().call(e -> Uni.createFrom().voidItem().onItem().delayIt().by(delay));
            }

            @Override
            public void cancel() {
                cancelled.add(request.id());
                handle.cancel();
            }
        };
    }

    @Override
    public int active() {
        return full ? Integer.MAX_VALUE : engine.active();
    }

    @Override
    public boolean full() {
        return full || engine.full();
    }
}
