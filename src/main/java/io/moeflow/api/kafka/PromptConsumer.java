package io.moeflow.api.kafka;

import io.moeflow.api.ClientText;
import io.moeflow.api.GenerationService;
import io.moeflow.api.InvalidRequestException;
import io.moeflow.api.ModelRuntime;
import io.moeflow.api.MoeflowConfig;
import io.moeflow.api.PromptSpec;
import io.moeflow.api.RequestParser;
import io.moeflow.api.ServiceMetrics;
import io.moeflow.api.ServiceUnavailableException;
import io.moeflow.api.chat.reply.ChatReplies;
import io.moeflow.scheduler.GenerationRequest;
import io.moeflow.scheduler.TokenEvent;
import io.smallrye.common.annotation.Blocking;
import io.smallrye.reactive.messaging.kafka.api.IncomingKafkaRecordMetadata;
import jakarta.annotation.PostConstruct;
import jakarta.annotation.PreDestroy;
import jakarta.enterprise.context.ApplicationScoped;
import jakarta.inject.Inject;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collection;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.TreeSet;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Flow;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.Semaphore;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;
import org.apache.kafka.common.KafkaException;
import org.apache.kafka.common.TopicPartition;
import org.eclipse.microprofile.reactive.messaging.Acknowledgment;
import org.eclipse.microprofile.reactive.messaging.Incoming;
import org.eclipse.microprofile.reactive.messaging.Message;
import org.jboss.logging.Logger;

/**
 * Consumes moeflow.prompts. Records are taken in order, one at a time, and handed to at most
 * {@code moeflow.kafka.prepare-concurrency} preparations at once (a slow one holds up no other); a preparation that
 * takes longer than {@code moeflow.kafka.prepare-timeout} sends its record to the dead letter topic. While every
 * preparation slot is taken (the engine's queue is full, or preparations are slow) this method waits, the
 * connector's bounded buffer fills and it pauses the Kafka consumer (backpressure).
 *
 * <p>Exactly one generation per request id, by design rather than by identical recomputation: before generating,
 * a record that may have been taken before (it was in its partition when this replica was assigned it) is compared
 * with what the tokens topic holds for its id ({@link TokenHistory}); a rerun of an id is too, whenever the
 * history knows the id. Then:
 * <ul>
 *   <li>no event yet: generated from the start;</li>
 *   <li>events 0..n-1 but no last one (a crash, a stop, a rebalance, a failed write): resumed after index n-1,
 *       with the published tokens taken as generated ({@link GenerationRequest#resumeTokens()}), so the
 *       de-duplicated stream is one generation whatever the logits of this process;</li>
 *   <li>a last event that answered this very record: acknowledged, nothing written (a redelivery after the last
 *       event was written but before the offset was committed);</li>
 *   <li>a last event that answered another record (a rerun of a finished id): its events are written again,
 *       unchanged, with header {@code moeflow-replay: true}, so the rerun gets the same answer.</li>
 * </ul>
 * A record is acknowledged only once its last event is written, and the throttled commit strategy commits an
 * offset only when every record before it is acknowledged, so a crash redelivers unfinished prompts. A prompt
 * whose events cannot be written is tried again (after what Kafka holds) with a growing pause until Kafka is back.
 * When a rebalance takes a partition away, the prompts of that partition stop here and their events in flight are
 * awaited before the partition goes, so that the next owner reads all of them back.
 */
@ApplicationScoped
public class PromptConsumer {
    private static final Logger LOG = Logger.getLogger(PromptConsumer.class);
    /** Bound of one read of a request's events back from the tokens topic (and of catching up with it). */
    static final Duration READ_BACK_TIMEOUT = Duration.ofSeconds(30);
    /** Tokens events are looked for from this long before their prompt record's timestamp (clocks differ). */
    static final long CLOCK_MARGIN_MS = 60_000;
    /** How long a rebalance waits for the events in flight of the prompts it takes away. */
    static final Duration FENCE_TIMEOUT = Duration.ofSeconds(10);
    private static final Duration MAX_RETRY_PAUSE = Duration.ofSeconds(30);

    @Inject
    GenerationService service;
    @Inject
    ModelRuntime runtime;
    @Inject
    MoeflowConfig config;
    @Inject
    TokenEventPublisher publisher;
    @Inject
    TokenEventTail tail;
    @Inject
    ServiceMetrics metrics;
    @Inject
    KafkaHealth kafka;
    @Inject
    ChatReplies replies;

    private RequestParser parser;
    private Semaphore slots;
    /** Unbounded on purpose: {@link #slots} is the bound, so a task waiting for a slot never starves a holder. */
    private final ExecutorService preparing = Executors.newCachedThreadPool(Thread.ofPlatform().name("moeflow-prompt-", 0).daemon().factory());
    private final ScheduledExecutorService timer = Executors.newSingleThreadScheduledExecutor(Thread.ofPlatform().name("moeflow-prompt-timer").daemon().factory());
    private final RateLimitedLog retries = new RateLimitedLog(LOG, Logger.Level.WARN, Duration.ofSeconds(30));

    private final AtomicLong duplicates = new AtomicLong();
    private final AtomicLong deadLettered = new AtomicLong();
    private final AtomicLong rejected = new AtomicLong();
    private final AtomicLong resumed = new AtomicLong();
    private final AtomicLong replayed = new AtomicLong();
    private final AtomicLong answeredBefore = new AtomicLong();

    /** The prompt records being worked on here, by request id (a copy of one waits for it). */
    private final ConcurrentHashMap<String, Attempt> attempts = new ConcurrentHashMap<>();
    /**
     * Per partition of the prompts topic: its end offset when this consumer was assigned it. Records below it may
     * have been taken by an earlier owner; the ones after cannot have been.
     */
    private final ConcurrentHashMap<Integer, Long> assignedEnds = new ConcurrentHashMap<>();
    private final AtomicLong assignments = new AtomicLong();
    /** The assignment for which the history was caught up, and from which time. Guarded by {@code this}. */
    private long syncedAssignment = -1;
    private long syncedSince = Long.MAX_VALUE;

    /** One prompt record being worked on. */
    private static final class Attempt {
        final PromptRecord record;
        final Message<byte[]> message;
        final Integer partition;
        final Long offset;
        final long timestamp;
        final TokenOrigin origin;
        /** Completed once the record is acknowledged, dead-lettered or handed to another owner. */
        final CompletableFuture<Void> settled = new CompletableFuture<>();
        /** Guarded by {@code this}. */
        Flow.Subscription subscription;
        boolean abandoned;
        int failures;

        Attempt(PromptRecord record, Message<byte[]> message, IncomingKafkaRecordMetadata<?, ?> meta, String topic, long now) {
            this.record = record;
            this.message = message;
            this.partition = meta == null ? null : meta.getPartition();
            this.offset = meta == null ? null : meta.getOffset();
            this.timestamp = meta == null || meta.getTimestamp() == null ? now : meta.getTimestamp().toEpochMilli();
            String traceparent = meta == null ? null : TokenOrigin.header(meta.getHeaders(), TokenOrigin.TRACEPARENT);
            this.origin = meta == null ? new TokenOrigin(null, null, false)
                    : TokenOrigin.kafka(meta.getTopic() != null ? meta.getTopic() : topic, meta.getPartition(), meta.getOffset(), traceparent);
        }

        String id() {
            return record.id();
        }

        /** False once abandoned; else remembers the subscription (cancelled by shutdown or a rebalance). */
        synchronized boolean generating(Flow.Subscription s) {
            subscription = s;
            return !abandoned;
        }

        /** Stops the generation here without a last event; returns whether one was running. */
        synchronized boolean abandon() {
            abandoned = true;
            if (subscription == null) return false;
            subscription.cancel();
            return true;
        }
    }

    /** The events 0..n-1 a resumed generation continues after. */
    /** {@code events}: the published events 0..n-1 themselves (a chat reply reads their text again). */
    private record Published(int[] tokens, String text, List<TokenEvent> events) {
        static final Published NONE = new Published(new int[0], "", List.of());
    }

    /** A prepared record: its engine request and, for a chat prompt, the reader of its reply (else null). */
    private record Prepared(GenerationRequest request, ChatReplyReader reader) {}

    @PostConstruct
    void init() {
        parser = service.parser();
        slots = new Semaphore(Math.max(1, config.kafka().prepareConcurrency()));
    }

    @PreDestroy
    void close() {
        timer.shutdownNow();
        preparing.shutdownNow();
    }

    @Incoming("prompts")
    @Blocking
    @Acknowledgment(Acknowledgment.Strategy.MANUAL)
    @SuppressWarnings("unchecked")
    public CompletionStage<Void> consume(Message<byte[]> message) throws InterruptedException {
        if (service.draining()) return unacknowledged();
        PromptRecord record;
        try {
            record = PromptRecord.parse(message.getPayload());
        } catch (UnparseableRecordException e) {
            deadLettered.incrementAndGet();
            metrics.rejected(ServiceMetrics.Api.KAFKA);
            LOG.warnf("prompt record sent to the dead letter topic: %s", ClientText.forLog(e.getMessage()));
            return message.nack(e);
        }
        IncomingKafkaRecordMetadata<?, ?> meta = message.getMetadata(IncomingKafkaRecordMetadata.class).orElse(null);
        Attempt attempt = new Attempt(record, message, meta, config.kafka().topics().prompts(), System.currentTimeMillis());
        // Consumption is ordered (one record at a time), so a copy of this record is read only after this put.
        Attempt original = attempts.putIfAbsent(record.id(), attempt);
        if (original != null) {
            duplicates.incrementAndGet();
            // In flight here (a rebalance handed the record over again, or a rerun while it runs): its events answer
            // this record too. Acknowledging the copy now would let its offset be committed before the original's
            // last event is written, and a crash then would lose the prompt.
            LOG.infof("prompt %s is in flight here; not generated again, acknowledged when the original is", ClientText.forLog(record.id()));
            original.settled.thenRun(message::ack);
            return CompletableFuture.completedFuture(null);
        }
        while (!slots.tryAcquire(100, TimeUnit.MILLISECONDS)) {
            if (service.draining()) return unacknowledged();
        }
        preparing.execute(() -> {
            try {
                process(attempt);
            } finally {
                slots.release();
                Thread.interrupted(); // a timed-out preparation's interrupt is not the next task's
            }
        });
        return CompletableFuture.completedFuture(null);
    }

    /** Decides what the record needs (see the class comment) and starts it; on a preparation thread. */
    private void process(Attempt a) {
        try {
            if (!awaitModel() || abandoned(a)) return;
            TokenHistory.Trace trace = lookUp(a);
            if (trace != null && trace.finished()) {
                answerFinished(a, trace);
                return;
            }
            Published published = Published.NONE;
            if (trace != null && trace.published() > 0) {
                List<TokenEventTail.StoredEvent> events = tail.readBack(trace, READ_BACK_TIMEOUT);
                if (events.stream().anyMatch(s -> s.event().last())) {
                    replay(a, events); // finished meanwhile
                    return;
                }
                published = published(events);
            }
            Prepared prepared = prepareInTime(a, published.tokens().length);
            if (prepared == null) return;
            GenerationRequest request = prepared.request();
            if (published.tokens().length > 0) request = request.resumedAfter(published.tokens());
            start(a, request, published, prepared.reader());
        } catch (ServiceUnavailableException e) {
            if (!service.draining()) retryLater(a, e);
        } catch (TimeoutException | ExecutionException | KafkaException e) {
            retryLater(a, e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        } catch (RuntimeException e) {
            LOG.errorf(e, "prompt %s failed", ClientText.forLog(a.id()));
            retryLater(a, e);
        }
    }

    private boolean abandoned(Attempt a) {
        synchronized (a) {
            return a.abandoned;
        }
    }

    /**
     * The history of the record's id. When the record may have been taken before, the history is first caught up
     * with the tokens topic back to the record's timestamp (once per assignment: earlier owners wrote before it).
     */
    private TokenHistory.Trace lookUp(Attempt a) throws TimeoutException, ExecutionException, InterruptedException {
        Long end = a.partition == null ? null : assignedEnds.get(a.partition);
        boolean maybeTakenBefore = end == null || a.offset == null || a.offset < end;
        if (maybeTakenBefore) catchUp(a.timestamp - CLOCK_MARGIN_MS);
        return tail.history().find(a.id());
    }

    private synchronized void catchUp(long since) throws TimeoutException, ExecutionException, InterruptedException {
        long assignment = assignments.get();
        if (assignment == syncedAssignment && since >= syncedSince) return;
        tail.sync(since).get(READ_BACK_TIMEOUT.toMillis(), TimeUnit.MILLISECONDS);
        syncedSince = assignment == syncedAssignment ? Math.min(syncedSince, since) : since;
        syncedAssignment = assignment;
    }

    /** The contiguous events 0..n-1 (the first copy of each index), none of them a last event. */
    private static Published published(List<TokenEventTail.StoredEvent> events) {
        TreeMap<Integer, TokenEvent> byIndex = new TreeMap<>();
        for (TokenEventTail.StoredEvent s : events) byIndex.putIfAbsent(s.event().index(), s.event());
        List<Integer> tokens = new ArrayList<>();
        StringBuilder text = new StringBuilder();
        List<TokenEvent> taken = new ArrayList<>();
        for (int i = 0; byIndex.containsKey(i) && byIndex.get(i).token() >= 0; i++) {
            tokens.add(byIndex.get(i).token());
            text.append(byIndex.get(i).text());
            taken.add(byIndex.get(i));
        }
        return new Published(tokens.stream().mapToInt(Integer::intValue).toArray(), text.toString(), List.copyOf(taken));
    }

    /** A record whose id has a last event: acknowledged when that event answered this record, else replayed. */
    private void answerFinished(Attempt a, TokenHistory.Trace trace) throws TimeoutException {
        if (a.origin.promptRecord() != null && a.origin.promptRecord().equals(trace.finalPromptRecord())) {
            answeredBefore.incrementAndGet();
            LOG.infof("prompt %s (%s) was answered before its offset was committed; acknowledged", ClientText.forLog(a.id()), a.origin.promptRecord());
            acknowledge(a);
            return;
        }
        replay(a, tail.readBack(trace, READ_BACK_TIMEOUT));
    }

    /** Writes a finished request's events again (the first copy of each index, up to its last event). */
    private void replay(Attempt a, List<TokenEventTail.StoredEvent> events) {
        if (abandoned(a)) return;
        TreeMap<Integer, TokenEventTail.StoredEvent> byIndex = new TreeMap<>();
        for (TokenEventTail.StoredEvent s : events) byIndex.putIfAbsent(s.event().index(), s);
        List<TokenEventTail.StoredEvent> answer = new ArrayList<>();
        for (TokenEventTail.StoredEvent s : byIndex.values()) {
            answer.add(s);
            if (s.event().last()) break;
        }
        replayed.incrementAndGet();
        LOG.infof("prompt %s is a rerun of a finished request; its %d events are written again", ClientText.forLog(a.id()), answer.size());
        TokenOrigin origin = a.origin.replayed();
        CompletionStage<Void> last = CompletableFuture.completedFuture(null);
        for (TokenEventTail.StoredEvent s : answer) last = publisher.republish(s, origin);
        last.whenComplete((ok, failure) -> {
            if (failure == null) acknowledge(a);
            else retryLater(a, failure);
        });
    }

    /**
     * Parses, renders and tokenizes the record within {@code moeflow.kafka.prepare-timeout}. Null when it was
     * answered otherwise: an error event for a bad value, the dead letter topic when it took too long.
     */
    private Prepared prepareInTime(Attempt a, int index) {
        Duration limit = config.kafka().prepareTimeout();
        AtomicBoolean decided = new AtomicBoolean();
        Thread preparer = Thread.currentThread();
        ScheduledFuture<?> watchdog = timer.schedule(() -> {
            if (decided.compareAndSet(false, true)) {
                preparer.interrupt();
                deadLetter(a, "preparing the prompt (parsing, chat template, tokenizer) took longer than " + limit
                        .toMillis() + " ms (moeflow.kafka.prepare-timeout)");
            }
        }, limit.toMillis(), TimeUnit.MILLISECONDS);
        try {
            PromptRecord record = a.record;
            if (record.sizeBytes() > config.limits().maxRequestBytes()) {
                throw new InvalidRequestException(null, "record is " + record.sizeBytes()
                        + " bytes, more than the limit of " + config.limits().maxRequestBytes());
            }
            PromptSpec spec = parser.promptOrMessages(record.body());
            // a chat prompt is prepared as the HTTP chat endpoint prepares it (forced calls constrained, reply reader)
            Prepared prepared;
            if (spec.chat()) {
                ChatReplies.Prepared chat = replies.prepare(record.id(), spec, record.defaultSeed());
                prepared = new Prepared(chat.requests().getFirst(), new ChatReplyReader(chat.reply()));
            } else {
                prepared = new Prepared(service.prepare(record.id(), spec, record.defaultSeed()), null);
            }
            return decided.compareAndSet(false, true) ? prepared : null;
        } catch (InvalidRequestException | IllegalArgumentException e) {
            if (decided.compareAndSet(false, true)) reject(a, index, e.getMessage());
            return null;
        } finally {
            watchdog.cancel(false);
        }
    }

    private void start(Attempt a, GenerationRequest request, Published published, ChatReplyReader reader) throws InterruptedException {
        GenerationService.Generation generation;
        if (abandoned(a)) return;
        StringBuilder publishedReply = new StringBuilder();
        if (reader != null) for (TokenEvent e : published.events()) publishedReply.append(reader.text(e));
        try {
            generation = service.startWhenFree(request, GenerationService.Publish.CONFIRM_LAST, a.origin, published.text(),
                    reader, publishedReply.toString());
        } catch (IllegalArgumentException e) {
            reject(a, published.tokens().length, e.getMessage()); // the engine refuses it (or its published tokens)
            return;
        }
        if (published.tokens().length > 0) {
            resumed.incrementAndGet();
            LOG.infof("prompt %s resumed after its %d published events", ClientText.forLog(a.id()), published.tokens().length);
        }
        generation.events()
                .onSubscription().invoke(subscription -> {
                    if (!a.generating(subscription)) subscription.cancel();
                })
                .subscribe().with(
                        event -> {},
                        failure -> retryLater(a, failure),
                        () -> acknowledge(a));
    }

    /** One error event (at the index the request has reached) instead of a generation; acknowledged once written. */
    private void reject(Attempt a, int index, String message) {
        if (abandoned(a)) return; // its partition went to another owner meanwhile
        rejected.incrementAndGet();
        metrics.rejected(ServiceMetrics.Api.KAFKA);
        publisher.publish(GenerationService.errorEvent(a.id(), index, 0, "invalid_request", message), a.origin, "")
                .whenComplete((ok, failure) -> {
                    if (failure == null) acknowledge(a);
                    else retryLater(a, failure);
                });
    }

    private void deadLetter(Attempt a, String reason) {
        if (abandoned(a)) return;
        deadLettered.incrementAndGet();
        metrics.rejected(ServiceMetrics.Api.KAFKA);
        LOG.warnf("prompt %s sent to the dead letter topic: %s", ClientText.forLog(a.id()), reason);
        attempts.remove(a.id(), a);
        a.message.nack(new PreparationTimeoutException(reason));
        a.settled.complete(null);
    }

    private void acknowledge(Attempt a) {
        attempts.remove(a.id(), a);
        a.message.ack();
        a.settled.complete(null);
    }

    /**
     * The attempt failed on Kafka (an event not written, the tokens topic not readable): tried again after a
     * pause, continuing after whatever Kafka holds by then. Left unacknowledged for redelivery when shutting down.
     */
    private void retryLater(Attempt a, Throwable failure) {
        if (service.draining() || abandoned(a) || timer.isShutdown()) return;
        long pauseMs = Math.min(MAX_RETRY_PAUSE.toMillis(), 1000L << Math.min(5, a.failures++));
        retries.log("prompt " + ClientText.forLog(a.id()) + " could not go on (" + ClientText.forLog(String.valueOf(failure.getMessage()))
                + "); trying again in " + pauseMs + " ms after what the tokens topic holds");
        timer.schedule(() -> preparing.execute(() -> {
            try {
                slots.acquire();
            } catch (InterruptedException e) {
                return;
            }
            try {
                process(a);
            } finally {
                slots.release();
                Thread.interrupted();
            }
        }), pauseMs, TimeUnit.MILLISECONDS);
    }

    /** Waits for the model; false when shutdown began meanwhile. */
    private boolean awaitModel() throws InterruptedException {
        while (runtime.state() != ModelRuntime.State.READY) {
            if (service.draining()) return false;
            Thread.sleep(100);
        }
        return true;
    }

    /**
     * A record taken during shutdown: neither acknowledged nor nacked (a nack would send it to the dead letter
     * topic), so its offset stays uncommitted and the group redelivers it.
     */
    private static CompletionStage<Void> unacknowledged() {
        return CompletableFuture.completedFuture(null);
    }

    /** The consumer was assigned {@code partitions} of the prompts topic, whose end offsets are {@code ends}. */
    void assigned(Map<TopicPartition, Long> ends) {
        String topic = config.kafka().topics().prompts();
        ends.forEach((p, end) -> {
            if (p.topic().equals(topic)) assignedEnds.put(p.partition(), end);
        });
        assignments.incrementAndGet();
    }

    /**
     * The consumer loses {@code partitions}: their prompts stop here without a last event, and their events in
     * flight are awaited, so that the next owner reads all of them back and resumes after them.
     */
    void revoked(Collection<TopicPartition> partitions) {
        String topic = config.kafka().topics().prompts();
        Set<Integer> lost = new TreeSet<>();
        for (TopicPartition p : partitions) if (p.topic().equals(topic)) lost.add(p.partition());
        if (lost.isEmpty()) return;
        List<Attempt> leaving = attempts.values().stream().filter(a -> a.partition != null && lost.contains(a.partition)).toList();
        int stopped = 0;
        for (Attempt a : leaving) if (a.abandon()) stopped++;
        // Waited for only while Kafka answers: without it they cannot be written, and shutdown must not hang on it.
        long deadline = System.nanoTime() + (kafka.reachable() ? FENCE_TIMEOUT.toNanos() : 0);
        try {
            for (Attempt a : leaving) {
                long left = deadline - System.nanoTime();
                if (!publisher.awaitSent(a.id(), Duration.ofNanos(Math.max(0, left))) && kafka.reachable()) {
                    LOG.warnf("prompt %s: events still unwritten %s after its partition was revoked", ClientText.forLog(a.id()), FENCE_TIMEOUT);
                }
                attempts.remove(a.id(), a);
                a.settled.complete(null);
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        lost.forEach(assignedEnds::remove);
        if (!leaving.isEmpty()) {
            LOG.infof("partitions %s of %s revoked: %d prompts handed over (%d of them stopped mid-generation)", lost, topic,
                    leaving.size(), stopped);
        }
    }

    /** Prompts being generated now. */
    public int inFlight() {
        return (int) attempts.values().stream().filter(a -> {
            synchronized (a) {
                return a.subscription != null && !a.abandoned;
            }
        }).count();
    }

    /**
     * Shutdown: stops the generations of the prompts still running without acknowledging them (their subscriber
     * sees neither completion nor failure), so they are redelivered. Returns their request ids.
     */
    public Set<String> cancelInFlight() {
        Set<String> cancelled = new TreeSet<>();
        for (Attempt a : attempts.values()) if (a.abandon()) cancelled.add(a.id());
        return cancelled;
    }

    /** Records that arrived while their id was in flight here. */
    public long duplicates() {
        return duplicates.get();
    }

    public long deadLettered() {
        return deadLettered.get();
    }

    /** Records answered with an error event. */
    public long rejected() {
        return rejected.get();
    }

    /** Records generated after events an earlier attempt published. */
    public long resumed() {
        return resumed.get();
    }

    /** Reruns of finished ids answered by writing the finished request's events again. */
    public long replayed() {
        return replayed.get();
    }

    /** Redelivered records whose last event was already written: acknowledged without writing anything. */
    public long answeredBefore() {
        return answeredBefore.get();
    }
}
