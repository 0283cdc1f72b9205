package io.moeflow.model;

import static io.moeflow.testing.TokenArrays.concat;
import static org.junit.jupiter.api.Assertions.*;

import org.junit.jupiter.api.Test;

/**
 * The block bookkeeping of prefix caching in {@link KvCache}: which blocks are found for which tokens, reference
 * counts, the idle blocks and their eviction order, and that a block is shared only under its exact token prefix.
 */
class KvCachePrefixTest {
    private static final int B = KvCache.BLOCK;

    private static KvCache cache(int blocks) {
        KvCache kv = new KvCache(1, 1, 1, blocks);
        kv.enablePrefixCache();
        return kv;
    }

    /** {@code n} tokens; runs with different salts differ in every token. */
    private static int[] tokens(int n, int salt) {
        int[] t = new int[n];
        for (int i = 0; i < n; i++) t[i] = 1000 * salt + i;
        return t;
    }


    /** A new sequence for {@code t}: its cached prefix attached, the rest "computed" (written) and its full blocks registered. */
    private static int computed(KvCache kv, int[] t) {
        int seq = kv.newSequence();
        KvCache.Prefix p = kv.findPrefix(i -> t[i], t.length - 1);
        if (p.tokens() > 0) kv.attachPrefix(seq, p);
        assertTrue(kv.ensureCapacity(seq, t.length), "room for " + t.length + " tokens");
        for (int pos = p.tokens(); pos < t.length; pos++) kv.markWritten(seq, pos);
        kv.cacheFullBlocks(seq, i -> t[i]);
        return seq;
    }

    private static int hit(KvCache kv, int[] t) {
        return kv.findPrefix(i -> t[i], t.length - 1).tokens();
    }

    @Test
    void fullBlocksAreFoundByTheirWholePrefixAndSharedWithoutCopies() {
        KvCache kv = cache(16);
        int[] a = concat(tokens(B, 1), tokens(B, 2), tokens(5, 3)); // two full blocks and a partial one
        int sa = computed(kv, a);
        assertEquals(2, kv.cachedBlocks(), "only full blocks are registered");

        int[] b = concat(tokens(B, 1), tokens(B, 2), tokens(9, 4));
        int sb = computed(kv, b);
        assertEquals(2 * B + 9, kv.length(sb));
        for (int pos = 0; pos < 2 * B; pos++) assertEquals(kv.blockIndex(sa, pos), kv.blockIndex(sb, pos), "shared position " + pos);
        assertNotEquals(kv.blockIndex(sa, 2 * B), kv.blockIndex(sb, 2 * B), "each writes its own tail block");
        assertEquals(16 - 4, kv.freeBlocks(), "two shared blocks and two tails are taken");

        // a prompt of exactly two blocks recomputes its last token: only the first block is taken
        assertEquals(B, hit(kv, concat(tokens(B, 1), tokens(B, 2))));
        // a prompt differing in the last token of block 1 shares block 0 only
        int[] c = concat(tokens(B, 1), tokens(B, 2), tokens(3, 5));
        c[2 * B - 1] = -7;
        assertEquals(B, hit(kv, c));
        // and one differing in its first token nothing
        int[] d = b.clone();
        d[0] = -1;
        assertEquals(0, hit(kv, d));
    }

    @Test
    void aBlockIsNeverSharedUnderAnotherParent() {
        // the same second block after another first block is another prefix (its KV differs): a wrong hash chain
        // (a key of the block's tokens alone) would hand b a's second block here
        KvCache kv = cache(16);
        int sa = computed(kv, concat(tokens(B, 1), tokens(B, 2), tokens(4, 3)));
        int[] b = concat(tokens(B, 9), tokens(B, 2), tokens(4, 3));
        assertEquals(0, hit(kv, b), "another first block: nothing shared");
        int sb = computed(kv, b);
        assertEquals(4, kv.cachedBlocks(), "both chains are registered");
        int sb2 = computed(kv, concat(tokens(B, 9), tokens(B, 2), tokens(6, 4)));
        assertEquals(kv.blockIndex(sb, B), kv.blockIndex(sb2, B), "b's chain is found");
        assertNotEquals(kv.blockIndex(sa, B), kv.blockIndex(sb2, B), "not a's block of the same tokens");
    }

    @Test
    void referencesKeepBlocksAndIdleOnesAreEvictedOnlyWhenNothingIsFreeOldestFirst() {
        KvCache kv = cache(6);
        int[] a = concat(tokens(B, 1), tokens(B, 2), tokens(1, 3)); // 3 blocks, 2 registered
        int sa = computed(kv, a);
        int sa2 = computed(kv, concat(tokens(B, 1), tokens(B, 2), tokens(2, 4))); // shares 2, one tail
        assertEquals(6 - 4, kv.freeBlocks());
        kv.freeSequence(sa);
        assertEquals(6 - 3, kv.freeBlocks(), "the shared blocks stay with the other sequence; a's tail is free");
        assertEquals(2, kv.cachedBlocks());
        kv.freeSequence(sa2);
        assertEquals(6, kv.freeBlocks(), "idle cached blocks count as free");
        assertEquals(2, kv.cachedBlocks(), "and stay cached");
        assertEquals(2 * B, hit(kv, a));

        // four blocks come from the free list first: the cached ones survive
        int other = kv.newSequence();
        assertTrue(kv.ensureCapacity(other, 4 * B));
        assertEquals(0, kv.evictions());
        assertEquals(2 * B, hit(kv, a));
        // the fifth takes the idle block released first: a's second block (tails are released before heads)
        assertTrue(kv.ensureCapacity(other, 5 * B));
        assertEquals(1, kv.evictions());
        assertEquals(B, hit(kv, a), "the prefix's head survives its tail");
        assertFalse(kv.ensureCapacity(other, 7 * B), "one block left");
        assertTrue(kv.ensureCapacity(other, 6 * B));
        assertEquals(0, hit(kv, a));
        assertEquals(0, kv.cachedBlocks());
        kv.freeSequence(other);
        assertEquals(6, kv.freeBlocks());
    }

    @Test
    void takingAPrefixTakesItsIdleBlocksFromTheFreeCount() {
        KvCache kv = cache(4);
        int[] a = concat(tokens(B, 1), tokens(B, 2), tokens(1, 3));
        kv.freeSequence(computed(kv, a));
        KvCache.Prefix p = kv.findPrefix(i -> a[i], a.length - 1);
        assertEquals(2, kv.idleAmong(p));
        int s = kv.newSequence();
        kv.attachPrefix(s, p);
        assertEquals(4 - 2, kv.freeBlocks());
        assertEquals(0, kv.idleAmong(p), "in use now");
        assertThrows(IllegalStateException.class, () -> kv.truncate(s, B), "never rewrite a shared block");
        kv.freeSequence(s);
        assertEquals(4, kv.freeBlocks());
    }

    @Test
    void offNothingIsCachedOrFound() {
        KvCache kv = new KvCache(1, 1, 1, 8);
        int[] a = concat(tokens(B, 1), tokens(B, 2), tokens(1, 3));
        int s = computed(kv, a);
        assertEquals(0, kv.cachedBlocks());
        kv.freeSequence(s);
        assertEquals(0, hit(kv, a));
        assertEquals(8, kv.freeBlocks());
    }
}
