package io.moeflow.model;

/** What callers outside the model need to know about it. */
public record ModelInfo(String architecture, String name, int vocabSize, int contextLength, int layers,
                        int embeddingLength, int expertCount, int expertUsedCount) {}
