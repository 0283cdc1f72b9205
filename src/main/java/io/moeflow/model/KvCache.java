package io.moeflow.model;

import java.util.ArrayDeque;
import java.util.Arrays;

/**
 * Paged key/value memory for all sequences: a fixed pool of blocks of {@link #BLOCK} positions, handed to
 * sequences on demand (no sequence reserves its whole context up front). A block holds, for every layer and
 * each of its positions, {@code kDim} key floats then {@code vDim} value floats (MLA stores its latent as
 * "key" and has {@code vDim = 0}). Not thread-safe: the step loop owns it; attention kernels only read
 * blocks that {@link #ensureCapacity} has handed out.
 */
public final class KvCache {
    public static final int BLOCK = 16;

    private final int layers, kDim, vDim, blocks, stride;
    private final float[][] pool;
    private final ArrayDeque<Integer> freeList = new ArrayDeque<>();
    private int[][] tables = new int[8][];
    private int[] lengths = new int[8];
    private final ArrayDeque<Integer> freeSeqIds = new ArrayDeque<>();
    private int nextSeqId;

    /**
     * @param layers layers of the model
     * @param kDim   floats of key per layer and position (all kv heads)
     * @param vDim   floats of value per layer and position
     * @param blocks blocks in the pool; capacity in tokens is {@code blocks * BLOCK}
     */
    public KvCache(int layers, int kDim, int vDim, int blocks) {
        if (blocks < 1) throw new IllegalArgumentException("KV pool needs at least one block");
        this.layers = layers;
        this.kDim = kDim;
        this.vDim = vDim;
        this.blocks = blocks;
        this.stride = kDim + vDim;
        this.pool = new float[blocks][];
        for (int b = 0; b < blocks; b++) freeList.add(b);
    }

    /** Bytes one block takes. */
    public static long blockBytes(int layers, int kDim, int vDim) {
        return 4L * layers * BLOCK * (kDim + vDim);
    }

    public long bytesPerToken() {
        return 4L * layers * stride;
    }

    public int kDim() { return kDim; }

    public int vDim() { return vDim; }

    public int totalBlocks() { return blocks; }

    public int freeBlocks() { return freeList.size(); }

    public static int blocksFor(int tokens) {
        return (tokens + BLOCK - 1) / BLOCK;
    }

    /** A new, empty sequence. */
    public int newSequence() {
        int id = freeSeqIds.isEmpty() ? nextSeqId++ : freeSeqIds.pop();
        if (id >= tables.length) {
            tables = Arrays.copyOf(tables, id * 2 + 1);
            lengths = Arrays.copyOf(lengths, id * 2 + 1);
        }
        tables[id] = new int[0];
        lengths[id] = 0;
        return id;
    }

    /** Gives the sequence blocks for positions {@code [0, tokens)}; false (and no change) when the pool is short. */
    public boolean ensureCapacity(int seq, int tokens) {
        int[] t = tables[seq];
        int need = blocksFor(tokens) - t.length;
        if (need <= 0) return true;
        if (need > freeList.size()) return false;
        int[] nt = Arrays.copyOf(t, t.length + need);
        for (int i = t.length; i < nt.length; i++) {
            int b = freeList.pop();
            if (pool[b] == null) pool[b] = new float[layers * BLOCK * stride];
            nt[i] = b;
        }
        tables[seq] = nt;
        return true;
    }

    /** Returns the sequence's blocks to the pool and forgets it. */
    public void freeSequence(int seq) {
        int[] t = tables[seq];
        if (t == null) return;
        for (int b : t) freeList.push(b);
        tables[seq] = null;
        lengths[seq] = 0;
        freeSeqIds.push(seq);
    }

    /** Drops positions {@code >= length} (their blocks stay with the sequence). */
    public void truncate(int seq, int length) {
        lengths[seq] = Math.min(lengths[seq], length);
    }

    /** Positions written so far (one past the highest position stored). */
    public int length(int seq) {
        return lengths[seq];
    }

    /** Marks position {@code pos} as written. */
    public void markWritten(int seq, int pos) {
        if (pos + 1 > lengths[seq]) lengths[seq] = pos + 1;
    }

    /** The block array holding {@code (seq, pos)}. */
    public float[] block(int seq, int pos) {
        int[] t = tables[seq];
        int bi = pos / BLOCK;
        if (t == null || bi >= t.length) throw new IllegalStateException("sequence " + seq + " has no KV block for position " + pos);
        return pool[t[bi]];
    }

    /** Offset of the key of {@code (layer, pos)} inside {@link #block}; the value follows at {@code + kDim}. */
    public int offset(int layer, int pos) {
        return (layer * BLOCK + pos % BLOCK) * stride;
    }
}
