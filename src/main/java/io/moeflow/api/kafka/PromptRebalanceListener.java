package io.moeflow.api.kafka;

import io.smallrye.common.annotation.Identifier;
import io.smallrye.reactive.messaging.kafka.KafkaConsumerRebalanceListener;
import jakarta.enterprise.context.ApplicationScoped;
import jakarta.inject.Inject;
import java.time.Duration;
import java.util.Collection;
import java.util.Map;
import org.apache.kafka.clients.consumer.Consumer;
import org.apache.kafka.common.KafkaException;
import org.apache.kafka.common.TopicPartition;
import org.jboss.logging.Logger;

/**
 * The prompts channel's rebalance listener (mp.messaging.incoming.prompts.consumer-rebalance-listener.name): tells
 * {@link PromptConsumer} which records may have been taken by an earlier owner (those below each assigned
 * partition's end offset at assignment) and stops the prompts of partitions taken away. Runs on the polling thread.
 */
@ApplicationScoped
@Identifier(PromptRebalanceListener.NAME)
public class PromptRebalanceListener implements KafkaConsumerRebalanceListener {
    public static final String NAME = "moeflow-prompts";
    private static final Logger LOG = Logger.getLogger(PromptRebalanceListener.class);

    @Inject
    PromptConsumer prompts;

    @Override
    public void onPartitionsAssigned(Consumer<?, ?> consumer, Collection<TopicPartition> partitions) {
        if (partitions.isEmpty()) return;
        Map<TopicPartition, Long> ends;
        try {
            ends = consumer.endOffsets(partitions, Duration.ofSeconds(10));
        } catch (KafkaException e) {
            // Unknown ends: every record of these partitions counts as possibly taken before (always safe).
            LOG.debugf("end offsets of %s unknown: %s", partitions, e.getMessage());
            ends = Map.of();
        }
        prompts.assigned(ends);
    }

    @Override
    public void onPartitionsRevoked(Consumer<?, ?> consumer, Collection<TopicPartition> partitions) {
        prompts.revoked(partitions);
    }

    @Override
    public void onPartitionsLost(Consumer<?, ?> consumer, Collection<TopicPartition> partitions) {
        prompts.revoked(partitions);
    }
}
