package io.moeflow.loadgen;

import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * A closed-loop load: {@code concurrency} workers, each sending its next request as soon as its previous one has
 * finished, until {@code requests} have been sent. The service therefore always has {@code concurrency} requests
 * in flight (no queueing on the client side), like the engine-only bench's rounds.
 */
public final class ClosedLoop {
    private ClosedLoop() {}

    /** Progress reporting: called after each finished request (from worker threads). */
    public interface Progress {
        void finished(int done, int total, RequestTrace trace);
    }

    public static LevelResult run(LoadTarget target, RequestSpec spec, int concurrency, int requests, String idPrefix,
                                  Progress progress) throws InterruptedException {
        if (concurrency < 1) throw new IllegalArgumentException("concurrency must be >= 1, got " + concurrency);
        if (requests < 1) throw new IllegalArgumentException("requests must be >= 1, got " + requests);
        List<RequestTrace> traces = Collections.synchronizedList(new ArrayList<>());
        AtomicInteger next = new AtomicInteger();
        AtomicInteger done = new AtomicInteger();
        List<Thread> workers = new ArrayList<>();
        long start = System.nanoTime();
        for (int w = 0; w < Math.min(concurrency, requests); w++) {
            workers.add(Thread.ofPlatform().name("loadgen-" + target.via() + "-" + w).daemon().start(() -> {
                for (int i = next.getAndIncrement(); i < requests; i = next.getAndIncrement()) {
                    RequestTrace trace;
                    try {
                        trace = target.send(idPrefix + "-" + i, spec);
                    } catch (InterruptedException e) {
                        Thread.currentThread().interrupt();
                        return;
                    } catch (RuntimeException e) {
                        trace = RequestTrace.failed(System.nanoTime(), e.toString());
                    }
                    traces.add(trace);
                    if (progress != null) progress.finished(done.incrementAndGet(), requests, trace);
                }
            }));
        }
        try {
            for (Thread t : workers) t.join();
        } catch (InterruptedException e) {
            workers.forEach(Thread::interrupt);
            throw e;
        }
        long end = System.nanoTime();
        return LevelResult.of(target.via(), concurrency, List.copyOf(traces), start, end);
    }
}
