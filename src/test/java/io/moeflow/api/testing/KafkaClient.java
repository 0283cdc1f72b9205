package io.moeflow.api.testing;

import io.moeflow.api.kafka.TokenEventJson;
import io.moeflow.scheduler.TokenEvent;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.Set;
import java.util.UUID;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.apache.kafka.common.serialization.ByteArraySerializer;
import org.apache.kafka.common.serialization.StringDeserializer;
import org.apache.kafka.common.serialization.StringSerializer;

/** A plain Kafka producer and consumers, as any client of the service would use them. */
public final class KafkaClient implements AutoCloseable {
    /** Upper bound of every wait; a healthy run needs a small fraction of it. */
    public static final Duration WAIT = Duration.ofSeconds(90);

    private final String bootstrap;
    private final KafkaProducer<String, byte[]> producer;

    public KafkaClient(String bootstrap) {
        this.bootstrap = bootstrap;
        Properties p = new Properties();
        p.put(ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
        p.put(ProducerConfig.KEY_SERIALIZER_CLASS_CONFIG, StringSerializer.class.getName());
        p.put(ProducerConfig.VALUE_SERIALIZER_CLASS_CONFIG, ByteArraySerializer.class.getName());
        producer = new KafkaProducer<>(p);
    }

    /** A producer of string records, for what a test writes itself (token events, prompts). Close it. */
    public static KafkaProducer<String, String> stringProducer(String bootstrap) {
        Properties p = new Properties();
        p.put(ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
        p.put(ProducerConfig.KEY_SERIALIZER_CLASS_CONFIG, StringSerializer.class.getName());
        p.put(ProducerConfig.VALUE_SERIALIZER_CLASS_CONFIG, StringSerializer.class.getName());
        p.put(ProducerConfig.LINGER_MS_CONFIG, 5);
        return new KafkaProducer<>(p);
    }

    public void produce(String topic, String key, byte[] value) {
        try {
            producer.send(new ProducerRecord<>(topic, key, value)).get();
        } catch (Exception e) {
            throw new IllegalStateException(e);
        }
    }

    /** Produces a record with headers (name, UTF-8 value pairs). */
    public void produce(String topic, String key, String json, String... headers) {
        ProducerRecord<String, byte[]> record = new ProducerRecord<>(topic, key, json.getBytes(java.nio.charset.StandardCharsets.UTF_8));
        for (int i = 0; i + 1 < headers.length; i += 2) {
            record.headers().add(headers[i], headers[i + 1].getBytes(java.nio.charset.StandardCharsets.UTF_8));
        }
        try {
            producer.send(record).get();
        } catch (Exception e) {
            throw new IllegalStateException(e);
        }
    }

    /**
     * The token event records of the given requests, in topic order, once each request has {@code lastEvents}
     * last events (a rerun replays its events: two).
     */
    public Map<String, List<ConsumerRecord<String, String>>> tokenRecords(String topic, Set<String> ids, int lastEvents) {
        Map<String, List<ConsumerRecord<String, String>>> records = new HashMap<>();
        Map<String, Integer> lasts = new HashMap<>();
        try (KafkaConsumer<String, String> consumer = consumer(StringDeserializer.class)) {
            assignFromStart(consumer, topic);
            long deadline = System.nanoTime() + WAIT.toNanos();
            while (System.nanoTime() < deadline) {
                for (ConsumerRecord<String, String> r : consumer.poll(Duration.ofMillis(200))) {
                    if (!ids.contains(r.key())) continue;
                    records.computeIfAbsent(r.key(), k -> new ArrayList<>()).add(r);
                    if (TokenEventJson.parse(r.value()).last()) lasts.merge(r.key(), 1, Integer::sum);
                }
                if (ids.stream().allMatch(id -> lasts.getOrDefault(id, 0) >= lastEvents)) return records;
            }
        }
        throw new AssertionError("fewer than " + lastEvents + " last events within " + WAIT + " for " + ids + "; got " + records);
    }

    public void produce(String topic, String key, String json) {
        produce(topic, key, json.getBytes(java.nio.charset.StandardCharsets.UTF_8));
    }

    /** Every event of the given requests, in topic order, once each request has its last event. */
    public Map<String, List<TokenEvent>> tokenEvents(String topic, Set<String> ids) {
        Map<String, List<TokenEvent>> events = new HashMap<>();
        try (KafkaConsumer<String, String> consumer = consumer(StringDeserializer.class)) {
            assignFromStart(consumer, topic);
            long deadline = System.nanoTime() + WAIT.toNanos();
            while (System.nanoTime() < deadline) {
                for (ConsumerRecord<String, String> r : consumer.poll(Duration.ofMillis(200))) {
                    TokenEvent e = TokenEventJson.parse(r.value());
                    if (!ids.contains(e.requestId())) continue;
                    if (!r.key().equals(e.requestId())) throw new AssertionError("record key " + r.key() + " is not the request id " + e.requestId());
                    events.computeIfAbsent(e.requestId(), k -> new ArrayList<>()).add(e);
                }
                if (ids.stream().allMatch(id -> events.getOrDefault(id, List.of()).stream().anyMatch(TokenEvent::last))) {
                    return events;
                }
            }
        }
        throw new AssertionError("no last event within " + WAIT + " for " + ids + "; got " + events);
    }

    /** Records of {@code topic} whose key is one of {@code keys}, once all of them arrived. */
    public Map<String, ConsumerRecord<String, byte[]>> records(String topic, Set<String> keys) {
        Map<String, ConsumerRecord<String, byte[]>> found = new HashMap<>();
        try (KafkaConsumer<String, byte[]> consumer = consumer(ByteArrayDeserializer.class)) {
            assignFromStart(consumer, topic);
            long deadline = System.nanoTime() + WAIT.toNanos();
            while (System.nanoTime() < deadline && !found.keySet().containsAll(keys)) {
                for (ConsumerRecord<String, byte[]> r : consumer.poll(Duration.ofMillis(200))) {
                    if (keys.contains(r.key())) found.put(r.key(), r);
                }
            }
        }
        if (!found.keySet().containsAll(keys)) throw new AssertionError("missing records in " + topic + ": got only " + found.keySet());
        return found;
    }

    /** How many records of {@code topic} have key {@code key} now (read from the start to the end offsets). */
    public int countNow(String topic, String key) {
        int n = 0;
        try (KafkaConsumer<String, byte[]> consumer = consumer(ByteArrayDeserializer.class)) {
            assignFromStart(consumer, topic);
            Map<TopicPartition, Long> ends = consumer.endOffsets(consumer.assignment());
            long deadline = System.nanoTime() + WAIT.toNanos();
            while (ends.entrySet().stream().anyMatch(e -> consumer.position(e.getKey()) < e.getValue())) {
                if (System.nanoTime() > deadline) throw new AssertionError("cannot read " + topic + " to its end");
                for (ConsumerRecord<String, byte[]> r : consumer.poll(Duration.ofMillis(200))) if (key.equals(r.key())) n++;
            }
        }
        return n;
    }

    private <V> KafkaConsumer<String, V> consumer(Class<?> valueDeserializer) {
        Properties p = new Properties();
        p.put(ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
        p.put(ConsumerConfig.CLIENT_ID_CONFIG, "test-" + UUID.randomUUID());
        p.put(ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, false);
        p.put(ConsumerConfig.KEY_DESERIALIZER_CLASS_CONFIG, StringDeserializer.class.getName());
        p.put(ConsumerConfig.VALUE_DESERIALIZER_CLASS_CONFIG, valueDeserializer.getName());
        return new KafkaConsumer<>(p);
    }

    private static void assignFromStart(KafkaConsumer<String, ?> consumer, String topic) {
        List<TopicPartition> partitions = consumer.partitionsFor(topic, WAIT).stream()
                .map(i -> new TopicPartition(topic, i.partition())).toList();
        consumer.assign(partitions);
        consumer.seekToBeginning(partitions);
    }

    @Override
    public void close() {
        producer.close();
    }
}
