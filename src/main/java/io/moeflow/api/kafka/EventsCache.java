package io.moeflow.api.kafka;

import io.moeflow.scheduler.TokenEvent;
import io.smallrye.mutiny.Multi;
import io.smallrye.mutiny.subscription.MultiEmitter;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.TimeUnit;

/**
 * The token events of the most recent requests, for watchers of GET /v1/requests/{id}/events that arrive after a
 * request started, and the live watchers themselves. The cache is bounded by requests and by (estimated) bytes,
 * evicting the least recently written request first, whoever watches it: watchers are kept apart and keep
 * receiving live events of an evicted request. A watcher that has seen no event of its id after
 * {@code unknownTimeout} ends with {@link UnknownRequestException}. Watchers see each index once (a redelivered or
 * replayed prompt repeats indexes) and complete after the last event. Thread-safe.
 */
public final class EventsCache {
    /** Estimated heap of one cached event besides its text (record, list slot, boxed fields). */
    static final int EVENT_BYTES = 96;
    /** Estimated heap of one cached request besides its id (map entry, list). */
    static final int REQUEST_BYTES = 160;

    /** Ends the watch of an id of which no event arrived in time. */
    public static final class UnknownRequestException extends RuntimeException {
        public UnknownRequestException(String message) {
            super(message);
        }

        @Override
        public synchronized Throwable fillInStackTrace() {
            return this; // an expected outcome, not a bug
        }
    }

    private static final class Cached {
        final List<TokenEvent> events = new ArrayList<>();
        long bytes;
        int nextIndex;
    }

    private static final class Watcher {
        final String id;
        final MultiEmitter<? super TokenEvent> emitter;
        int next;
        boolean done;
        ScheduledFuture<?> timeout;

        Watcher(String id, MultiEmitter<? super TokenEvent> emitter) {
            this.id = id;
            this.emitter = emitter;
        }

        /** Emits events with new indexes; a repeated index is skipped. */
        void offer(TokenEvent event) {
            if (done || event.index() < next) return;
            next = event.index() + 1;
            emitter.emit(event);
            if (event.last()) end(null);
        }

        void end(RuntimeException failure) {
            if (done) return;
            done = true;
            if (timeout != null) timeout.cancel(false);
            if (failure == null) emitter.complete();
            else emitter.fail(failure);
        }
    }

    private final int maxRequests;
    private final long maxBytes;
    private final Duration unknownTimeout;
    private final ScheduledExecutorService timer;
    /** Guarded by {@code this}; access order: the eldest is the least recently written. */
    private final LinkedHashMap<String, Cached> cached = new LinkedHashMap<>(256, 0.75f, true);
    private final Map<String, List<Watcher>> watchers = new HashMap<>();
    private long bytes;

    public EventsCache(int maxRequests, long maxBytes, Duration unknownTimeout, ScheduledExecutorService timer) {
        if (maxRequests < 1) throw new IllegalArgumentException("the events cache needs room for at least one request");
        this.maxRequests = maxRequests;
        this.maxBytes = maxBytes;
        this.unknownTimeout = unknownTimeout;
        this.timer = timer;
    }

    static long bytesOf(TokenEvent e) {
        return EVENT_BYTES + 2L * (e.text() == null ? 0 : e.text().length())
                + (e.errorMessage() == null ? 0 : 2L * e.errorMessage().length());
    }

    /** Adds an event (a repeated index is not kept twice) and hands it to the request's watchers. */
    public synchronized void add(TokenEvent event) {
        Cached c = cached.get(event.requestId());
        if (c == null) {
            c = new Cached();
            c.bytes = REQUEST_BYTES + 2L * event.requestId().length();
            bytes += c.bytes;
            cached.put(event.requestId(), c);
        }
        if (event.index() >= c.nextIndex) {
            c.events.add(event);
            c.nextIndex = event.index() + 1;
            long b = bytesOf(event);
            c.bytes += b;
            bytes += b;
        }
        evict(c);
        List<Watcher> live = watchers.get(event.requestId());
        if (live != null) {
            // a copy: a watcher that ends removes itself (its termination callback runs within offer)
            for (Watcher w : List.copyOf(live)) {
                w.offer(event);
                if (w.done) remove(w);
            }
        }
    }

    /** Eldest first, down to the limits; the request just written goes last, and only if it alone is too big. */
    private void evict(Cached newest) {
        for (Iterator<Cached> it = cached.values().iterator(); it.hasNext() && (cached.size() > maxRequests || bytes > maxBytes); ) {
            Cached c = it.next();
            if (c == newest && cached.size() > 1) continue;
            bytes -= c.bytes;
            it.remove();
        }
    }

    /** The events of request {@code id}: those cached, then live ones; completes after the last event. */
    public Multi<TokenEvent> watch(String id) {
        return Multi.createFrom().emitter(emitter -> {
            Watcher watcher = new Watcher(id, emitter);
            synchronized (this) {
                Cached c = cached.get(id);
                if (c != null) for (TokenEvent e : List.copyOf(c.events)) watcher.offer(e);
                if (!watcher.done) {
                    watchers.computeIfAbsent(id, k -> new ArrayList<>()).add(watcher);
                    if (watcher.next == 0) {
                        watcher.timeout = timer.schedule(() -> timedOut(watcher), unknownTimeout.toMillis(), TimeUnit.MILLISECONDS);
                    }
                }
            }
            emitter.onTermination(() -> remove(watcher));
        });
    }

    private synchronized void timedOut(Watcher watcher) {
        if (watcher.done || watcher.next > 0) return;
        watcher.end(new UnknownRequestException("no event of request \"" + watcher.id + "\" within "
                + unknownTimeout.toSeconds() + " s: the id is unknown, its events are older than this service's look-back, "
                + "or it has not started yet"));
        remove(watcher);
    }

    private synchronized void remove(Watcher watcher) {
        if (watcher.timeout != null) watcher.timeout.cancel(false);
        List<Watcher> live = watchers.get(watcher.id);
        if (live != null && live.remove(watcher) && live.isEmpty()) watchers.remove(watcher.id);
    }

    /** Requests cached now. */
    public synchronized int requests() {
        return cached.size();
    }

    /** Estimated heap of the cached events now. */
    public synchronized long bytes() {
        return bytes;
    }

    /** Open watches. */
    public synchronized int watchers() {
        return watchers.values().stream().mapToInt(List::size).sum();
    }
}
