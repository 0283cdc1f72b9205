package io.moeflow.model.blocks;

import io.moeflow.model.StepStats;

/** The FFN half of a layer: reads {@code ws.xn} for {@code n} tokens, writes {@code ws.out}. */
public interface FeedForward {
    void forward(int layer, int n, Workspace ws, StepStats stats);
}
