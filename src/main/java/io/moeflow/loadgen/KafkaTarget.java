package io.moeflow.loadgen;

import com.fasterxml.jackson.databind.json.JsonMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.moeflow.api.kafka.TokenEventJson;
import io.moeflow.scheduler.FinishReason;
import io.moeflow.scheduler.TokenEvent;
import java.time.Duration;
import java.util.Arrays;
import java.util.List;
import java.util.Properties;
import java.util.UUID;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.errors.WakeupException;
import org.apache.kafka.common.serialization.StringDeserializer;
import org.apache.kafka.common.serialization.StringSerializer;

/**
 * Prompt records into the prompts topic (kafka-topics/schemas/prompt-request.schema.json, keyed by a unique id),
 * token events out of the tokens topic. One consumer, assigned every partition of the tokens topic at its end
 * offsets before anything is produced (no consumer group), hands each event to the request waiting for its id.
 */
public final class KafkaTarget implements LoadTarget {
    private static final JsonMapper JSON = new JsonMapper();

    private final String promptsTopic;
    private final Duration timeout;
    private final KafkaProducer<String, String> producer;
    private final KafkaConsumer<String, String> consumer;
    private final Thread poller;
    private volatile boolean running = true;
    private final ConcurrentHashMap<String, Pending> pending = new ConcurrentHashMap<>();

    /** The events of one request so far; touched only by the poller thread until {@code done} completes. */
    private static final class Pending {
        final long sent;
        final CompletableFuture<RequestTrace> done = new CompletableFuture<>();
        long[] arrivals = new long[64];
        int n;
        int lastIndex = -1;

        Pending(long sent) {
            this.sent = sent;
        }
    }

    public KafkaTarget(String bootstrap, String promptsTopic, String tokensTopic, Duration timeout) {
        this.promptsTopic = promptsTopic;
        this.timeout = timeout;
        Properties p = new Properties();
        p.put(ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
        p.put(ProducerConfig.KEY_SERIALIZER_CLASS_CONFIG, StringSerializer.class.getName());
        p.put(ProducerConfig.VALUE_SERIALIZER_CLASS_CONFIG, StringSerializer.class.getName());
        p.put(ProducerConfig.LINGER_MS_CONFIG, 0); // each prompt leaves at once: its wait would count as TTFT
        p.put(ProducerConfig.CLIENT_ID_CONFIG, "moeflow-loadgen-" + UUID.randomUUID());
        producer = new KafkaProducer<>(p);
        Properties c = new Properties();
        c.put(ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
        c.put(ConsumerConfig.CLIENT_ID_CONFIG, "moeflow-loadgen-" + UUID.randomUUID());
        c.put(ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, false);
        c.put(ConsumerConfig.KEY_DESERIALIZER_CLASS_CONFIG, StringDeserializer.class.getName());
        c.put(ConsumerConfig.VALUE_DESERIALIZER_CLASS_CONFIG, StringDeserializer.class.getName());
        c.put(ConsumerConfig.FETCH_MAX_WAIT_MS_CONFIG, 10); // events are tiny: do not let the broker hold them back
        consumer = new KafkaConsumer<>(c);
        try {
            var infos = consumer.partitionsFor(tokensTopic, Duration.ofSeconds(60));
            if (infos == null || infos.isEmpty()) throw new IllegalStateException("topic " + tokensTopic + " not found at " + bootstrap);
            List<TopicPartition> partitions = infos.stream().map(i -> new TopicPartition(tokensTopic, i.partition())).toList();
            consumer.assign(partitions);
            consumer.seekToEnd(partitions);
            // seekToEnd is lazy: resolve the positions now, before the first prompt is produced
            for (TopicPartition tp : partitions) consumer.position(tp, Duration.ofSeconds(60));
        } catch (RuntimeException e) {
            consumer.close();
            producer.close();
            throw e;
        }
        poller = Thread.ofPlatform().name("loadgen-kafka-poller").daemon().start(this::poll);
    }

    @Override
    public String via() {
        return "kafka";
    }

    static String record(String id, RequestSpec spec) {
        ObjectNode value = JSON.createObjectNode();
        value.put("id", id);
        value.put("prompt", spec.prompt());
        value.put("max_tokens", spec.maxTokens());
        value.put("ignore_eos", true); // always max_tokens tokens, as the engine bench generates
        value.put("temperature", spec.temperature());
        return value.toString();
    }

    @Override
    public RequestTrace send(String id, RequestSpec spec) throws InterruptedException {
        String value = record(id, spec);
        long sent = System.nanoTime();
        Pending p = new Pending(sent);
        if (pending.putIfAbsent(id, p) != null) throw new IllegalArgumentException("request id " + id + " is already in flight");
        try {
            producer.send(new ProducerRecord<>(promptsTopic, id, value), (meta, failure) -> {
                if (failure != null) p.done.complete(RequestTrace.failed(sent, "producing to " + promptsTopic + " failed: " + failure));
            });
            return p.done.get(timeout.toNanos(), TimeUnit.NANOSECONDS);
        } catch (TimeoutException e) {
            return RequestTrace.failed(sent, "no last token event within " + timeout + " (" + p.n + " events seen)");
        } catch (ExecutionException e) {
            return RequestTrace.failed(sent, e.getCause().toString());
        } catch (RuntimeException e) {
            return RequestTrace.failed(sent, "producing to " + promptsTopic + " failed: " + e);
        } finally {
            pending.remove(id);
        }
    }

    private void poll() {
        try {
            while (running) {
                for (ConsumerRecord<String, String> r : consumer.poll(Duration.ofMillis(100))) {
                    long now = System.nanoTime();
                    Pending p = r.key() == null ? null : pending.get(r.key());
                    if (p != null && !p.done.isDone()) accept(p, r.value(), now);
                }
            }
        } catch (WakeupException e) {
            // close() woke the poll up
        } catch (RuntimeException e) {
            String why = "token consumer failed: " + e;
            pending.values().forEach(p -> p.done.complete(RequestTrace.failed(p.sent, why)));
        } finally {
            consumer.close(Duration.ofSeconds(5));
        }
    }

    private static void accept(Pending p, String value, long now) {
        TokenEvent e;
        try {
            e = TokenEventJson.parse(value);
        } catch (IllegalArgumentException ex) {
            p.done.complete(RequestTrace.failed(p.sent, ex.getMessage()));
            return;
        }
        if (e.index() <= p.lastIndex) return; // a redelivery repeats (id, index) pairs already seen
        p.lastIndex = e.index();
        if (e.finish() == FinishReason.ERROR || e.finish() == FinishReason.CANCELLED) {
            p.done.complete(RequestTrace.failed(p.sent, e.finish().wire() + ": " + e.errorCode() + ": " + e.errorMessage()));
            return;
        }
        if (e.token() >= 0 || e.last()) {
            if (p.n == p.arrivals.length) p.arrivals = Arrays.copyOf(p.arrivals, p.n * 2);
            p.arrivals[p.n++] = now;
        }
        if (e.last()) {
            int tokens = e.usage() != null ? e.usage().completionTokens() : p.n;
            int prompt = e.usage() != null ? e.usage().promptTokens() : -1;
            p.done.complete(new RequestTrace(p.sent, Arrays.copyOf(p.arrivals, p.n), now, tokens, prompt, null));
        }
    }

    @Override
    public void close() {
        running = false;
        consumer.wakeup();
        try {
            poller.join(10_000);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        producer.close(Duration.ofSeconds(5));
    }

}
