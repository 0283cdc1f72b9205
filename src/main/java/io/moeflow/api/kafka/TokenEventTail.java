package io.moeflow.api.kafka;

import io.moeflow.api.ClientText;
import io.moeflow.api.MoeflowConfig;
import io.moeflow.scheduler.TokenEvent;
import io.quarkus.runtime.ShutdownEvent;
import io.quarkus.runtime.StartupEvent;
import io.smallrye.mutiny.Multi;
import jakarta.annotation.PostConstruct;
import jakarta.enterprise.context.ApplicationScoped;
import jakarta.enterprise.event.Observes;
import jakarta.inject.Inject;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.UUID;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeoutException;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.consumer.OffsetAndTimestamp;
import org.apache.kafka.common.PartitionInfo;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.errors.WakeupException;
import org.apache.kafka.common.serialization.StringDeserializer;
import org.eclipse.microprofile.config.inject.ConfigProperty;
import org.jboss.logging.Logger;

/**
 * Follows the tokens topic: one consumer per process reads every partition (assigned, no consumer group) from
 * {@code moeflow.events.lookback} ago, feeding the {@link EventsCache} of GET /v1/requests/{id}/events (so any
 * replica serves any request's events) and the {@link TokenHistory} that resumption and reruns consult. Survives a
 * lost broker: it reconnects and goes on where it was. {@link #sync} lets a caller wait until every event written
 * before the call, back to a given time, has been read; {@link #readBack} reads one request's events again.
 */
@ApplicationScoped
public class TokenEventTail {
    private static final Logger LOG = Logger.getLogger(TokenEventTail.class);
    private static final Duration RETRY = Duration.ofSeconds(2);
    /** Short, so that a sync request waits little; an idle poll costs nothing (the fetch stays open at the broker). */
    private static final Duration POLL = Duration.ofMillis(100);

    @Inject
    KafkaSetup setup;
    @Inject
    MoeflowConfig config;

    @ConfigProperty(name = "kafka.bootstrap.servers")
    String bootstrapServers;

    /** One stored event: parsed, and its record value as written (a replay writes it again unchanged). */
    public record StoredEvent(TokenEvent event, String json) {}

    private record Sync(long sinceMillis, CompletableFuture<Void> done) {}

    private record PendingSync(Map<TopicPartition, Long> ends, CompletableFuture<Void> done) {}

    private EventsCache cache;
    private TokenHistory history;
    private final ScheduledExecutorService timer = Executors.newSingleThreadScheduledExecutor(r -> {
        Thread t = new Thread(r, "moeflow-events-timer");
        t.setDaemon(true);
        return t;
    });
    private final ConcurrentLinkedQueue<Sync> syncs = new ConcurrentLinkedQueue<>();
    /** Owned by the tail thread: syncs waiting for the positions to reach the end offsets taken for them. */
    private final List<PendingSync> pending = new ArrayList<>();
    private final RateLimitedLog unreachable = new RateLimitedLog(LOG, Logger.Level.WARN, Duration.ofSeconds(60));
    private volatile KafkaConsumer<String, String> consumer;
    private volatile boolean stopping;
    private Thread thread;
    /** Owned by the tail thread: where each partition is read up to, kept across reconnections. */
    private final Map<TopicPartition, Long> positions = new HashMap<>();
    /** Owned by the tail thread: every event written since this time (record timestamp) is read or being read. */
    private long coveredSince;
    private KafkaConsumer<String, String> reader;

    @PostConstruct
    void init() {
        MoeflowConfig.Events events = config.events();
        cache = new EventsCache(events.cacheRequests(), events.cacheBytes(), events.unknownTimeout(), timer);
        history = new TokenHistory(config.kafka().dedupCapacity());
    }

    void onStart(@Observes StartupEvent event) {
        coveredSince = System.currentTimeMillis() - config.events().lookback().toMillis();
        thread = Thread.ofPlatform().name("moeflow-token-tail").daemon().start(this::run);
    }

    void onStop(@Observes ShutdownEvent event) {
        stopping = true;
        KafkaConsumer<String, String> c = consumer;
        if (c != null) c.wakeup();
        if (thread != null) {
            try {
                thread.join(5000);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }
        synchronized (this) {
            if (reader != null) reader.close(Duration.ofSeconds(1));
            reader = null;
        }
        timer.shutdownNow();
    }

    public EventsCache cache() {
        return cache;
    }

    public TokenHistory history() {
        return history;
    }

    /** The events of request {@code id}: those cached, then live ones; see {@link EventsCache#watch}. */
    public Multi<TokenEvent> watch(String id) {
        return cache.watch(id);
    }

    /**
     * Completes once every event written to the tokens topic before this call with a timestamp from
     * {@code sinceMillis} on has been read into the history (reading back further when needed).
     */
    public CompletableFuture<Void> sync(long sinceMillis) {
        CompletableFuture<Void> done = new CompletableFuture<>();
        syncs.add(new Sync(sinceMillis, done)); // taken within one short poll
        return done;
    }

    private String topic() {
        return config.kafka().topics().tokens();
    }

    private Properties consumerProperties(String clientId) {
        Properties props = new Properties();
        props.put(ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrapServers);
        props.put(ConsumerConfig.CLIENT_ID_CONFIG, clientId + "-" + UUID.randomUUID());
        props.put(ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, false);
        props.put(ConsumerConfig.AUTO_OFFSET_RESET_CONFIG, "earliest");
        props.put(ConsumerConfig.KEY_DESERIALIZER_CLASS_CONFIG, StringDeserializer.class.getName());
        props.put(ConsumerConfig.VALUE_DESERIALIZER_CLASS_CONFIG, StringDeserializer.class.getName());
        // Unreachable brokers are retried with a growing pause, not hammered (and logged) every 50 ms.
        props.put(ConsumerConfig.RECONNECT_BACKOFF_MAX_MS_CONFIG, 10_000);
        return props;
    }

    private void run() {
        // Not before the topics exist: asking for a missing topic's partitions could auto-create it with the broker's defaults.
        while (!stopping && setup.phase() == KafkaSetup.Phase.STARTING) pause(Duration.ofMillis(100));
        while (!stopping) {
            try (KafkaConsumer<String, String> c = new KafkaConsumer<>(consumerProperties("moeflow-token-tail"))) {
                consumer = c;
                follow(c);
            } catch (WakeupException e) {
                // shutdown
            } catch (RuntimeException e) {
                if (stopping) break;
                unreachable.log("following " + topic() + " failed (" + e + "); retrying every " + RETRY.toSeconds() + " s");
                pause(RETRY);
            } finally {
                consumer = null;
            }
        }
    }

    private void follow(KafkaConsumer<String, String> c) {
        List<TopicPartition> partitions = awaitPartitions(c);
        if (partitions.isEmpty()) return;
        c.assign(partitions);
        // After a reconnection, on from where the last consumer was; else from the look-back.
        if (positions.keySet().containsAll(partitions)) {
            for (TopicPartition p : partitions) c.seek(p, positions.get(p));
        } else {
            seekBack(c, partitions, coveredSince);
        }
        unreachable.reset();
        LOG.debugf("token events of %s are followed (%d partitions)", topic(), partitions.size());
        while (!stopping) {
            for (Sync s; (s = syncs.poll()) != null; ) {
                if (s.sinceMillis() < coveredSince) {
                    // Further back than read so far: read that part again (the history ignores what it knows).
                    coveredSince = s.sinceMillis();
                    seekBack(c, partitions, coveredSince);
                }
                pending.add(new PendingSync(c.endOffsets(partitions), s.done()));
            }
            try {
                for (ConsumerRecord<String, String> record : c.poll(POLL)) dispatch(record);
            } catch (WakeupException e) {
                if (stopping) return;
            }
            for (TopicPartition p : partitions) positions.put(p, c.position(p));
            for (Iterator<PendingSync> it = pending.iterator(); it.hasNext(); ) {
                PendingSync s = it.next();
                if (s.ends().entrySet().stream().allMatch(e -> positions.getOrDefault(e.getKey(), -1L) >= e.getValue())) {
                    s.done().complete(null);
                    it.remove();
                }
            }
        }
    }

    /** Seeks each partition back to its first record at or after {@code sinceMillis} (never forward). */
    private void seekBack(KafkaConsumer<String, String> c, List<TopicPartition> partitions, long sinceMillis) {
        Map<TopicPartition, Long> times = new HashMap<>();
        for (TopicPartition p : partitions) times.put(p, Math.max(0, sinceMillis));
        Map<TopicPartition, OffsetAndTimestamp> offsets = c.offsetsForTimes(times);
        Map<TopicPartition, Long> ends = null;
        for (TopicPartition p : partitions) {
            OffsetAndTimestamp at = offsets.get(p);
            long target;
            if (at != null) {
                target = at.offset();
            } else {
                if (ends == null) ends = c.endOffsets(partitions);
                target = ends.get(p); // nothing that recent
            }
            Long read = positions.get(p);
            c.seek(p, read == null ? target : Math.min(read, target));
        }
    }

    private void dispatch(ConsumerRecord<String, String> record) {
        TokenEvent event;
        try {
            event = TokenEventJson.parse(record.value());
        } catch (IllegalArgumentException e) {
            LOG.debugf("skipping a record of %s that is not a token event: %s", topic(), ClientText.forLog(e.getMessage()));
            return;
        }
        cache.add(event);
        history.observe(event.requestId(), record.partition(), record.offset(), event.index(), event.last(),
                TokenOrigin.header(record.headers(), TokenOrigin.PROMPT_RECORD));
    }

    private List<TopicPartition> awaitPartitions(KafkaConsumer<String, String> c) {
        while (!stopping) {
            try {
                List<PartitionInfo> infos = c.partitionsFor(topic(), Duration.ofSeconds(5));
                if (infos != null && !infos.isEmpty()) {
                    return infos.stream().map(i -> new TopicPartition(topic(), i.partition())).toList();
                }
            } catch (org.apache.kafka.common.errors.TimeoutException notYet) {
                unreachable.log("the topic " + topic() + " cannot be read yet: " + notYet.getMessage());
            }
            pause(Duration.ofSeconds(1));
        }
        return List.of();
    }

    private void pause(Duration d) {
        try {
            Thread.sleep(d.toMillis());
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            stopping = true;
        }
    }

    /**
     * The events of {@code trace} as they are in the topic (offsets first..last of its partition, this request's
     * records only), in topic order. Throws TimeoutException when they cannot all be read within {@code timeout}.
     */
    public synchronized List<StoredEvent> readBack(TokenHistory.Trace trace, Duration timeout) throws TimeoutException {
        if (stopping) throw new TimeoutException("shutting down");
        if (reader == null) reader = new KafkaConsumer<>(consumerProperties("moeflow-token-reader"));
        TopicPartition p = new TopicPartition(topic(), trace.partition());
        reader.assign(List.of(p));
        reader.seek(p, trace.firstOffset());
        List<StoredEvent> events = new ArrayList<>();
        long deadline = System.nanoTime() + timeout.toNanos();
        while (reader.position(p, timeout) <= trace.lastOffset()) {
            if (System.nanoTime() > deadline) {
                throw new TimeoutException("reading back the events of " + trace.id() + " from " + p + " took longer than " + timeout);
            }
            for (ConsumerRecord<String, String> r : reader.poll(Duration.ofMillis(200))) {
                if (r.offset() > trace.lastOffset() || !trace.id().equals(r.key())) continue;
                try {
                    TokenEvent e = TokenEventJson.parse(r.value());
                    if (e.requestId().equals(trace.id())) events.add(new StoredEvent(e, r.value()));
                } catch (IllegalArgumentException notAnEvent) {
                    // not ours to judge; skipped like the tail skips it
                }
            }
        }
        return events;
    }
}
