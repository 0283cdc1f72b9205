package io.moeflow.api.kafka;

import java.util.BitSet;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * What the tokens topic holds per request id, in a few dozen bytes each: where its events are (partition, first
 * and last offset), which indexes are published, whether the last event is, and which prompt record that last
 * event answered. Fed by {@link TokenEventTail} (every event it reads) and by {@link TokenEventPublisher} (every
 * event this process writes, as soon as Kafka acknowledges it). {@link PromptConsumer} asks it whether a prompt was
 * started or finished before, then reads those events back ({@link TokenEventTail#readBack}) to resume or replay.
 * Bounded: the {@code capacity} most recently written ids are kept. Thread-safe.
 */
public final class TokenHistory {
    /** One request's events as of now. {@code published}: indexes 0..published-1 are all in the topic. */
    public record Trace(String id, int partition, long firstOffset, long lastOffset, int published, int highestIndex,
                        boolean finished, String finalPromptRecord) {}

    private static final class Trail {
        int partition = -1;
        long firstOffset = Long.MAX_VALUE;
        long lastOffset = -1;
        final BitSet indexes = new BitSet();
        boolean finished;
        long finalOffset = -1;
        String finalPromptRecord;
    }

    private final int capacity;
    private final LinkedHashMap<String, Trail> entries;

    public TokenHistory(int capacity) {
        this.capacity = capacity;
        this.entries = new LinkedHashMap<>(Math.min(capacity, 1024), 0.75f, true) {
            @Override
            protected boolean removeEldestEntry(Map.Entry<String, Trail> eldest) {
                return size() > TokenHistory.this.capacity;
            }
        };
    }

    /**
     * Records that event {@code index} of request {@code id} is at {@code partition}/{@code offset}; {@code last}
     * when it has a finish reason, {@code promptRecord} the prompt it answered (its moeflow-prompt-record header).
     * Seeing the same event twice changes nothing.
     */
    public synchronized void observe(String id, int partition, long offset, int index, boolean last, String promptRecord) {
        if (index < 0) return;
        Trail e = entries.computeIfAbsent(id, k -> new Trail());
        if (e.partition != partition) {
            // The key decides the partition; another one means the topic's partitions changed: start over there.
            if (e.partition >= 0) {
                e.indexes.clear();
                e.firstOffset = Long.MAX_VALUE;
                e.lastOffset = -1;
                e.finished = false;
                e.finalOffset = -1;
            }
            e.partition = partition;
        }
        e.firstOffset = Math.min(e.firstOffset, offset);
        e.lastOffset = Math.max(e.lastOffset, offset);
        e.indexes.set(index);
        // The latest last event tells which prompt record was answered last (a rerun replays under its own).
        if (last && offset >= e.finalOffset) {
            e.finished = true;
            e.finalOffset = offset;
            e.finalPromptRecord = promptRecord;
        }
    }

    /** The trace of {@code id}, or null when none of its events was seen. */
    public synchronized Trace find(String id) {
        Trail e = entries.get(id);
        if (e == null) return null;
        return new Trace(id, e.partition, e.firstOffset, e.lastOffset, e.indexes.nextClearBit(0), e.indexes.length() - 1,
                e.finished, e.finalPromptRecord);
    }

    public synchronized int size() {
        return entries.size();
    }
}
