package io.moeflow.model.blocks;

import io.moeflow.model.ForwardBatch;
import io.moeflow.model.KvCache;

/** The attention half of a layer: reads {@code ws.xn}, stores the batch's keys/values in {@code kv}, writes {@code ws.out}. */
public interface AttentionBlock {
    void forward(int layer, ForwardBatch batch, KvCache kv, Workspace ws);
}
