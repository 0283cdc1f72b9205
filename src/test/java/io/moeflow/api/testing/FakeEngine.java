package io.moeflow.api.testing;

import io.moeflow.scheduler.FinishReason;
import io.moeflow.scheduler.GenerationEngine;
import io.moeflow.scheduler.GenerationRequest;
import io.moeflow.scheduler.TokenEvent;
import io.smallrye.mutiny.Multi;
import io.smallrye.mutiny.operators.multi.processors.UnicastProcessor;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * A deterministic stand-in engine: token i of a request is a function of its prompt, seed and i; text " w<token>".
 * Generates on one background thread. Holds at most {@code capacity} requests.
 */
public final class FakeEngine implements GenerationEngine {
    private final int capacity;
    private final int context;
    private final AtomicInteger active = new AtomicInteger();
    private final ExecutorService thread = Executors.newSingleThreadExecutor(r -> {
        Thread t = new Thread(r, "fake-engine");
        t.setDaemon(true);
        return t;
    });

    public FakeEngine(int capacity, int context) {
        this.capacity = capacity;
        this.context = context;
    }

    @Override
    public Handle submit(GenerationRequest request) {
        if (request.promptTokens().length >= context) throw new IllegalArgumentException("prompt longer than the context");
        if (active.incrementAndGet() > capacity) {
            active.decrementAndGet();
            throw new QueueFullException("queue holds " + capacity + " requests");
        }
        UnicastProcessor<TokenEvent> events = UnicastProcessor.create();
        AtomicBoolean cancelled = new AtomicBoolean();
        thread.execute(() -> {
            // like a real engine, greedy decoding ignores the seed
            long h = request.sampling().greedy() ? 17 : request.sampling().seed();
            for (int t : request.promptTokens()) h = h * 31 + t;
            int n = 0;
            FinishReason finish = null;
            while (finish == null) {
                if (cancelled.get()) {
                    finish = FinishReason.CANCELLED;
                    events.onNext(new TokenEvent(request.id(), n, -1, "", finish, usage(request, n), null, null));
                    break;
                }
                int token = (int) Math.floorMod(h * 1_000_003 + n * 7919L, 200) + 10;
                boolean end = n + 1 >= request.maxTokens();
                finish = end ? FinishReason.LENGTH : null;
                events.onNext(new TokenEvent(request.id(), n, token, " w" + token, finish,
                        end ? usage(request, n + 1) : null, null, null));
                n++;
            }
            active.decrementAndGet();
            events.onComplete();
        });
        return new Handle() {
            @Override
            public String id() {
                return request.id();
            }

            @Override
            public Multi<TokenEvent> events() {
                return events;
            }

            @Override
            public void cancel() {
                cancelled.set(true);
            }
        };
    }

    private static TokenEvent.Usage usage(GenerationRequest r, int generated) {
        return new TokenEvent.Usage(r.promptTokens().length, generated);
    }

    @Override
    public int active() {
        return active.get();
    }

    @Override
    public boolean full() {
        return active.get() >= capacity;
    }
}
