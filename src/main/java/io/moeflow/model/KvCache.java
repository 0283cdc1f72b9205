package io.moeflow.model;

import java.util.ArrayDeque;
import java.util.Arrays;
import java.util.HashMap;
import java.util.Iterator;
import java.util.LinkedHashSet;
import java.util.function.IntUnaryOperator;

/**
 * Paged key/value memory for all sequences: a fixed pool of blocks of {@link #BLOCK} positions, handed to
 * sequences on demand (no sequence reserves its whole context up front). A block holds, for every layer and
 * each of its positions, {@code kDim} key floats then {@code vDim} value floats (MLA stores its latent as
 * "key" and has {@code vDim = 0}). Not thread-safe: the step loop owns it; attention kernels only read
 * blocks that {@link #ensureCapacity} has handed out.
 *
 * <p>Prefix caching ({@link #enablePrefixCache()}, as vLLM's automatic prefix caching): a block whose
 * {@link #BLOCK} positions are all written is registered under a key made of its parent's key (the block before it)
 * and its token ids, so a key names the whole token prefix up to the block's end. Another sequence whose tokens
 * begin with that prefix takes the same physical blocks ({@link #findPrefix}, {@link #attachPrefix}) instead of
 * computing them. This is sound because the keys and values of a position are a function of the tokens up to it
 * (models where they are not opt out, {@link Model#kvIsFunctionOfPrefix()}) and a registered block is never
 * written again: a sequence writes only positions past its shared prefix, into blocks of its own. So blocks are
 * shared read-only and need no copy-on-write. Blocks are reference counted (one reference per sequence table
 * holding them); a registered block nobody references stays cached, in least-recently-released order, and is
 * evicted (unregistered and reused) only when the free list is empty. Keys are compared exactly (the parent by
 * identity of its canonical key, the tokens by value), so two different prefixes never share a block.
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

    private boolean prefixCache;
    /** Sequence tables referencing each block. */
    private final int[] refs;
    /** Each block's key while it is registered in the prefix cache, else null. */
    private final BlockKey[] keyOf;
    private final HashMap<BlockKey, Integer> cached = new HashMap<>();
    /** Registered blocks no sequence references: evicted oldest first when the free list is empty. */
    private final LinkedHashSet<Integer> idle = new LinkedHashSet<>();
    /** Per sequence: its leading blocks whose keys are known, and the key of the last of them (null: none). */
    private int[] keyedBlocks = new int[8];
    private BlockKey[] lastKey = new BlockKey[8];
    private long evictions;

    /**
     * The content key of a full block: the canonical key of its parent (null for a sequence's first block) and its
     * {@link #BLOCK} token ids. Equal keys name the same token prefix: parents are compared by identity (a parent
     * key is always the instance registered in {@link #cached} when its child was keyed), tokens by value. The
     * hash chains the parent's hash with the tokens'.
     */
    static final class BlockKey {
        final BlockKey parent;
        final int[] tokens;
        final int hash;

        BlockKey(BlockKey parent, int[] tokens) {
            this.parent = parent;
            this.tokens = tokens;
            this.hash = 31 * (parent == null ? 0 : parent.hash) + Arrays.hashCode(tokens);
        }

        @Override
        public boolean equals(Object o) {
            return o instanceof BlockKey k && k.hash == hash && k.parent == parent && Arrays.equals(k.tokens, tokens);
        }

        @Override
        public int hashCode() {
            return hash;
        }
    }

    /** The cached full blocks a token sequence begins with (see {@link #findPrefix}). */
    public record Prefix(int[] blocks, BlockKey last) {
        public static final Prefix NONE = new Prefix(new int[0], null);

        /** Positions the prefix covers. */
        public int tokens() {
            return blocks.length * BLOCK;
        }
    }

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
        this.refs = new int[blocks];
        this.keyOf = new BlockKey[blocks];
        for (int b = 0; b < blocks; b++) freeList.add(b);
    }

    /** Turns prefix caching on (see the class comment); before any sequence. */
    public void enablePrefixCache() {
        if (nextSeqId > 0) throw new IllegalStateException("enable prefix caching before the first sequence");
        prefixCache = true;
    }

    public boolean prefixCacheEnabled() {
        return prefixCache;
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

    /** Blocks a sequence can be given: the free list plus the cached blocks no sequence references (evictable). */
    public int freeBlocks() { return freeList.size() + idle.size(); }

    /** Blocks registered in the prefix cache (referenced or not). */
    public int cachedBlocks() { return cached.size(); }

    /** Cached blocks evicted (unregistered to be reused) so far. */
    public long evictions() { return evictions; }

    public static int blocksFor(int tokens) {
        return (tokens + BLOCK - 1) / BLOCK;
    }

    /** A new, empty sequence. */
    public int newSequence() {
        int id = freeSeqIds.isEmpty() ? nextSeqId++ : freeSeqIds.pop();
        if (id >= tables.length) {
            tables = Arrays.copyOf(tables, id * 2 + 1);
            lengths = Arrays.copyOf(lengths, id * 2 + 1);
            keyedBlocks = Arrays.copyOf(keyedBlocks, id * 2 + 1);
            lastKey = Arrays.copyOf(lastKey, id * 2 + 1);
        }
        tables[id] = new int[0];
        lengths[id] = 0;
        keyedBlocks[id] = 0;
        lastKey[id] = null;
        return id;
    }

    /** Gives the sequence blocks for positions {@code [0, tokens)}; false (and no change) when the pool is short. */
    public boolean ensureCapacity(int seq, int tokens) {
        int[] t = tables[seq];
        int need = blocksFor(tokens) - t.length;
        if (need <= 0) return true;
        if (need > freeBlocks()) return false;
        int[] nt = Arrays.copyOf(t, t.length + need);
        for (int i = t.length; i < nt.length; i++) {
            int b = freeList.isEmpty() ? evictOldestIdle() : freeList.pop();
            if (pool[b] == null) pool[b] = new float[layers * BLOCK * stride];
            refs[b] = 1;
            nt[i] = b;
        }
        tables[seq] = nt;
        return true;
    }

    private int evictOldestIdle() {
        Iterator<Integer> it = idle.iterator();
        int b = it.next();
        it.remove();
        cached.remove(keyOf[b]);
        keyOf[b] = null;
        evictions++;
        return b;
    }

    /**
     * Returns the sequence's blocks to the pool and forgets it. A block other sequences still reference stays
     * theirs; a registered one nobody references becomes idle (still cached). The last blocks are released first,
     * so a prefix's tail is evicted before its head.
     */
    public void freeSequence(int seq) {
        int[] t = tables[seq];
        if (t == null) return;
        for (int i = t.length - 1; i >= 0; i--) {
            int b = t[i];
            if (--refs[b] > 0) continue;
            if (keyOf[b] != null) idle.add(b);
            else freeList.push(b);
        }
        tables[seq] = null;
        lengths[seq] = 0;
        keyedBlocks[seq] = 0;
        lastKey[seq] = null;
        freeSeqIds.push(seq);
    }

    /**
     * Drops positions {@code >= length} (their blocks stay with the sequence). Refused inside the sequence's keyed
     * blocks: they may be shared, and a sequence must never write into a block another can read.
     */
    public void truncate(int seq, int length) {
        if (length < keyedBlocks[seq] * BLOCK)
            throw new IllegalStateException("sequence " + seq + ": cannot truncate to " + length + " inside its "
                    + keyedBlocks[seq] + " cached blocks");
        lengths[seq] = Math.min(lengths[seq], length);
    }

    /**
     * The longest run of cached full blocks that {@code tokens} {@code [0, limit)} begins with ({@code tokenAt(i)}
     * is token i); {@link Prefix#NONE} when prefix caching is off. Changes nothing: {@link #attachPrefix} takes it.
     */
    public Prefix findPrefix(IntUnaryOperator tokenAt, int limit) {
        if (!prefixCache) return Prefix.NONE;
        int n = limit / BLOCK;
        int[] found = new int[n];
        BlockKey parent = null;
        int hits = 0;
        for (; hits < n; hits++) {
            Integer b = cached.get(new BlockKey(parent, blockTokens(tokenAt, hits)));
            if (b == null) break;
            found[hits] = b;
            parent = keyOf[b];
        }
        return hits == 0 ? Prefix.NONE : new Prefix(Arrays.copyOf(found, hits), parent);
    }

    /** How many of the prefix's blocks no sequence references now: taking the prefix removes them from {@link #freeBlocks}. */
    public int idleAmong(Prefix prefix) {
        int n = 0;
        for (int b : prefix.blocks()) if (refs[b] == 0) n++;
        return n;
    }

    /** Gives an empty sequence the blocks of a prefix just found: its first {@link Prefix#tokens()} positions are written. */
    public void attachPrefix(int seq, Prefix prefix) {
        if (tables[seq].length != 0) throw new IllegalStateException("sequence " + seq + " already has KV blocks");
        for (int b : prefix.blocks()) {
            if (keyOf[b] == null) throw new IllegalStateException("block " + b + " left the prefix cache since it was found");
            if (refs[b]++ == 0) idle.remove(b);
        }
        tables[seq] = prefix.blocks().clone();
        lengths[seq] = prefix.tokens();
        keyedBlocks[seq] = prefix.blocks().length;
        lastKey[seq] = prefix.last();
    }

    /**
     * Registers the sequence's blocks that are now full (all {@link #BLOCK} positions written) under their keys, so
     * later sequences can share them. A block whose prefix another block already holds stays the sequence's own
     * (unregistered; freed normally): the cached copy is kept, and the chain goes on from its key.
     */
    public void cacheFullBlocks(int seq, IntUnaryOperator tokenAt) {
        if (!prefixCache) return;
        int full = lengths[seq] / BLOCK;
        int[] t = tables[seq];
        BlockKey parent = lastKey[seq];
        for (int i = keyedBlocks[seq]; i < full; i++) {
            BlockKey key = new BlockKey(parent, blockTokens(tokenAt, i));
            Integer existing = cached.get(key);
            if (existing == null) {
                cached.put(key, t[i]);
                keyOf[t[i]] = key;
                parent = key;
            } else {
                parent = keyOf[existing];
            }
        }
        keyedBlocks[seq] = Math.max(keyedBlocks[seq], full);
        lastKey[seq] = parent;
    }

    private static int[] blockTokens(IntUnaryOperator tokenAt, int block) {
        int[] ids = new int[BLOCK];
        for (int i = 0; i < BLOCK; i++) ids[i] = tokenAt.applyAsInt(block * BLOCK + i);
        return ids;
    }

    /** Positions written so far (one past the highest position stored). */
    public int length(int seq) {
        return lengths[seq];
    }

    /** Marks position {@code pos} as written. */
    public void markWritten(int seq, int pos) {
        if (pos + 1 > lengths[seq]) lengths[seq] = pos + 1;
    }

    /** The pool index of the block holding {@code (seq, pos)} (blocks shared through the prefix cache have one). */
    public int blockIndex(int seq, int pos) {
        int[] t = tables[seq];
        int bi = pos / BLOCK;
        if (t == null || bi >= t.length) throw new IllegalStateException("sequence " + seq + " has no KV block for position " + pos);
        return t[bi];
    }

    /** The block array holding {@code (seq, pos)}. */
    public float[] block(int seq, int pos) {
        return pool[blockIndex(seq, pos)];
    }

    /** Offset of the key of {@code (layer, pos)} inside {@link #block}; the value follows at {@code + kDim}. */
    public int offset(int layer, int pos) {
        return (layer * BLOCK + pos % BLOCK) * stride;
    }
}
