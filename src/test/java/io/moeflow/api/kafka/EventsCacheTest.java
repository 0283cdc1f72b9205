package io.moeflow.api.kafka;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.moeflow.scheduler.FinishReason;
import io.moeflow.scheduler.TokenEvent;
import io.smallrye.mutiny.helpers.test.AssertSubscriber;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

class EventsCacheTest {
    private final ScheduledExecutorService timer = Executors.newSingleThreadScheduledExecutor();

    @AfterEach
    void stop() {
        timer.shutdownNow();
    }

    private static List<TokenEvent> request(String id, int tokens, String text) {
        List<TokenEvent> events = new java.util.ArrayList<>();
        for (int i = 0; i < tokens; i++) {
            boolean last = i == tokens - 1;
            events.add(new TokenEvent(id, i, i, text, last ? FinishReason.STOP : null, last ? new TokenEvent.Usage(3, tokens) : null, null, null));
        }
        return events;
    }

    /** The estimate the limit is checked against: what the cached requests hold. */
    private static long bytesOf(List<List<TokenEvent>> requests) {
        long b = 0;
        for (List<TokenEvent> r : requests) {
            b += EventsCache.REQUEST_BYTES + 2L * r.getFirst().requestId().length();
            for (TokenEvent e : r) b += EventsCache.bytesOf(e);
        }
        return b;
    }

    @Test
    void tenThousandRequestsStayWithinTheRequestLimitWhatEverIsWatched() {
        EventsCache cache = new EventsCache(1000, Long.MAX_VALUE, Duration.ofHours(1), timer);
        // Watchers of an unknown id and of an early request: neither pins anything.
        AssertSubscriber<TokenEvent> unknown = cache.watch("nobody").subscribe().withSubscriber(AssertSubscriber.create(Long.MAX_VALUE));
        AssertSubscriber<TokenEvent> early = cache.watch("r5").subscribe().withSubscriber(AssertSubscriber.create(Long.MAX_VALUE));
        int most = 0;
        for (int r = 0; r < 10_000; r++) {
            for (TokenEvent e : request("r" + r, 4, "word ")) cache.add(e);
            most = Math.max(most, cache.requests());
        }
        assertEquals(1000, most, "at most the limit, and it fills");
        assertEquals(1000, cache.requests());
        early.assertCompleted();
        assertEquals(4, early.getItems().size(), "the early request's watcher saw all of it live");
        assertEquals(1, cache.watchers(), "only the unknown id is still watched");
        unknown.cancel();
        assertEquals(0, cache.watchers());
        // the most recent requests are the ones kept, whole
        AssertSubscriber<TokenEvent> late = cache.watch("r9999").subscribe().withSubscriber(AssertSubscriber.create(Long.MAX_VALUE));
        late.assertCompleted();
        assertEquals(request("r9999", 4, "word "), late.getItems());
        assertEquals(0, cache.watchers());
    }

    @Test
    void theByteLimitHoldsAndIsWhatTheCachedEventsTake() {
        long limit = 200_000;
        EventsCache cache = new EventsCache(1_000_000, limit, Duration.ofHours(1), timer);
        AssertSubscriber<TokenEvent> unknown = cache.watch("nobody").subscribe().withSubscriber(AssertSubscriber.create(Long.MAX_VALUE));
        for (int r = 0; r < 10_000; r++) {
            for (TokenEvent e : request("req-" + r, 1 + r % 7, "x".repeat(r % 50))) cache.add(e);
            assertTrue(cache.bytes() <= limit, "bytes " + cache.bytes() + " after request " + r);
        }
        assertTrue(cache.bytes() > limit / 2, "the cache is used: " + cache.bytes());
        // the accounting is the sum over the requests still cached (the newest ones)
        int kept = cache.requests();
        List<List<TokenEvent>> newest = new java.util.ArrayList<>();
        for (int r = 10_000 - kept; r < 10_000; r++) newest.add(request("req-" + r, 1 + r % 7, "x".repeat(r % 50)));
        assertEquals(bytesOf(newest), cache.bytes());
        unknown.cancel();
    }

    @Test
    void aWatcherOfAnUnknownIdEndsAfterTheTimeoutAndOneWithEventsDoesNot() {
        EventsCache cache = new EventsCache(10, Long.MAX_VALUE, Duration.ofMillis(200), timer);
        AssertSubscriber<TokenEvent> unknown = cache.watch("nobody").subscribe().withSubscriber(AssertSubscriber.create(Long.MAX_VALUE));
        AssertSubscriber<TokenEvent> started = cache.watch("slow").subscribe().withSubscriber(AssertSubscriber.create(Long.MAX_VALUE));
        cache.add(request("slow", 3, "a").getFirst());
        Throwable failure = unknown.awaitFailure(Duration.ofSeconds(30)).getFailure();
        assertInstanceOf(EventsCache.UnknownRequestException.class, failure);
        assertTrue(failure.getMessage().contains("nobody"), failure.getMessage());
        assertEquals(1, cache.watchers(), "the unknown watcher is gone, the started one stays");
        for (TokenEvent e : request("slow", 3, "a").subList(1, 3)) cache.add(e);
        started.assertCompleted();
        assertEquals(3, started.getItems().size());
    }

    @Test
    void repeatedIndexesReachWatchersAndTheCacheOnce() {
        EventsCache cache = new EventsCache(10, Long.MAX_VALUE, Duration.ofHours(1), timer);
        AssertSubscriber<TokenEvent> live = cache.watch("r").subscribe().withSubscriber(AssertSubscriber.create(Long.MAX_VALUE));
        List<TokenEvent> events = request("r", 3, "t");
        cache.add(events.get(0));
        cache.add(events.get(1));
        cache.add(events.get(0)); // a redelivery repeats an index
        cache.add(events.get(1));
        cache.add(events.get(2));
        live.assertCompleted();
        assertEquals(events, live.getItems());
        AssertSubscriber<TokenEvent> late = cache.watch("r").subscribe().withSubscriber(AssertSubscriber.create(Long.MAX_VALUE));
        assertEquals(events, late.getItems());
        assertEquals(bytesOf(List.of(events)), cache.bytes());
    }
}
