package io.moeflow.api.kafka;

import io.moeflow.api.ClientText;
import io.moeflow.api.MoeflowConfig;
import io.moeflow.scheduler.TokenEvent;
import io.quarkus.runtime.ShutdownEvent;
import io.quarkus.runtime.StartupEvent;
import io.smallrye.mutiny.Multi;
import io.smallrye.mutiny.subscription.MultiEmitter;
import jakarta.enterprise.context.ApplicationScoped;
import jakarta.enterprise.event.Observes;
import jakarta.inject.Inject;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.UUID;
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
 * Feeds GET /v1/requests/{id}/events from the tokens topic, so any replica can serve any request's events, however
 * it was submitted. One consumer per process reads every partition (assigned, no consumer group) from
 * {@code moeflow.events.lookback} ago; the events of the most recent requests are kept in memory for watchers that
 * arrive late. Watchers see each index once (a redelivered prompt repeats indexes) and the stream ends after the
 * last event.
 */
@ApplicationScoped
public class TokenEventTail {
    private static final Logger LOG = Logger.getLogger(TokenEventTail.class);

    @Inject
    MoeflowConfig config;

    @ConfigProperty(name = "kafka.bootstrap.servers")
    String bootstrapServers;

    /** Per request: its events so far and its live watchers; guarded by {@code this}. */
    private Map<String, Request> requests;
    private volatile KafkaConsumer<String, String> consumer;
    private volatile boolean stopping;
    private Thread thread;

    private static final class Request {
        final List<TokenEvent> events = new ArrayList<>();
        final List<Watcher> watchers = new ArrayList<>();
    }

    private static final class Watcher {
        final MultiEmitter<? super TokenEvent> emitter;
        int next;
        boolean done;

        Watcher(MultiEmitter<? super TokenEvent> emitter) {
            this.emitter = emitter;
        }

        /** Emits events with new indexes; a repeated index (redelivery) is skipped. */
        void offer(TokenEvent event) {
            if (done || event.index() < next) return;
            next = event.index() + 1;
            emitter.emit(event);
            if (event.last()) {
                done = true;
                emitter.complete();
            }
        }
    }

    void onStart(@Observes StartupEvent event) {
        int capacity = config.events().cacheRequests();
        requests = new LinkedHashMap<>(256, 0.75f, true) {
            @Override
            protected boolean removeEldestEntry(Map.Entry<String, Request> eldest) {
                return size() > capacity && eldest.getValue().watchers.isEmpty();
            }
        };
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
    }

    /** The events of request {@code id}: those already seen, then live ones; completes after the last event. */
    public Multi<TokenEvent> watch(String id) {
        return Multi.createFrom().emitter(emitter -> {
            Watcher watcher = new Watcher(emitter);
            synchronized (this) {
                Request request = requests.computeIfAbsent(id, k -> new Request());
                for (TokenEvent e : request.events) watcher.offer(e);
                if (!watcher.done) request.watchers.add(watcher);
            }
            emitter.onTermination(() -> {
                synchronized (this) {
                    Request request = requests.get(id);
                    if (request != null) request.watchers.remove(watcher);
                }
            });
        });
    }

    private synchronized void dispatch(TokenEvent event) {
        Request request = requests.computeIfAbsent(event.requestId(), k -> new Request());
        request.events.add(event);
        for (Watcher w : List.copyOf(request.watchers)) {
            w.offer(event);
            if (w.done) request.watchers.remove(w);
        }
    }

    private void run() {
        String topic = config.kafka().topics().tokens();
        Properties props = new Properties();
        props.put(ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrapServers);
        props.put(ConsumerConfig.CLIENT_ID_CONFIG, "moeflow-token-tail-" + UUID.randomUUID());
        props.put(ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, false);
        props.put(ConsumerConfig.AUTO_OFFSET_RESET_CONFIG, "latest");
        props.put(ConsumerConfig.KEY_DESERIALIZER_CLASS_CONFIG, StringDeserializer.class.getName());
        props.put(ConsumerConfig.VALUE_DESERIALIZER_CLASS_CONFIG, StringDeserializer.class.getName());
        try (KafkaConsumer<String, String> c = new KafkaConsumer<>(props)) {
            consumer = c;
            List<TopicPartition> partitions = awaitPartitions(c, topic);
            if (partitions.isEmpty()) return;
            c.assign(partitions);
            long since = System.currentTimeMillis() - config.events().lookback().toMillis();
            Map<TopicPartition, Long> times = new HashMap<>();
            for (TopicPartition p : partitions) times.put(p, since);
            Map<TopicPartition, OffsetAndTimestamp> offsets = c.offsetsForTimes(times);
            for (TopicPartition p : partitions) {
                OffsetAndTimestamp at = offsets.get(p);
                if (at != null) c.seek(p, at.offset());
                else c.seekToEnd(List.of(p));
            }
            LOG.infof("token events of %s are followed for /v1/requests/{id}/events (%d partitions)", topic, partitions.size());
            while (!stopping) {
                for (ConsumerRecord<String, String> record : c.poll(Duration.ofMillis(500))) {
                    try {
                        dispatch(TokenEventJson.parse(record.value()));
                    } catch (IllegalArgumentException e) {
                        LOG.debugf("skipping a record of %s that is not a token event: %s", topic, ClientText.forLog(e.getMessage()));
                    }
                }
            }
        } catch (WakeupException e) {
            // shutdown
        } catch (RuntimeException e) {
            if (!stopping) LOG.errorf(e, "following %s stopped", topic);
        } finally {
            consumer = null;
        }
    }

    private List<TopicPartition> awaitPartitions(KafkaConsumer<String, String> c, String topic) {
        while (!stopping) {
            try {
                List<PartitionInfo> infos = c.partitionsFor(topic, Duration.ofSeconds(5));
                if (infos != null && !infos.isEmpty()) {
                    return infos.stream().map(i -> new TopicPartition(topic, i.partition())).toList();
                }
            } catch (org.apache.kafka.common.errors.TimeoutException notYet) {
                // broker not reachable yet
            }
            try {
                Thread.sleep(1000);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                return List.of();
            }
        }
        return List.of();
    }
}
