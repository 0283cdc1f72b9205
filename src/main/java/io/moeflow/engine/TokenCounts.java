package io.moeflow.engine;

import java.util.Arrays;

/**
 * How often each token id occurs in some run of a sequence's tokens, kept incrementally (one add or remove per
 * token, no boxing): the per-sequence state of the penalties. The ids ever counted are listed in first-seen order,
 * so a pass over the counts costs the number of distinct ids, never the vocabulary. Open addressing, linear
 * probing; an id whose count drops to 0 keeps its slot.
 */
public final class TokenCounts {
    private int[] slots; // id + 1, 0 = empty
    private int[] slotCount;
    private int[] ids = new int[16];
    private int[] idSlot = new int[16];
    private int distinct;

    public TokenCounts() {
        slots = new int[32];
        slotCount = new int[32];
    }

    public void add(int id) {
        int s = slotOf(id, true); // first: it may grow the tables
        slotCount[s]++;
    }

    /** Takes one occurrence away; the id must have been added. */
    public void remove(int id) {
        int s = slotOf(id, false);
        if (s < 0 || slotCount[s] == 0) throw new IllegalStateException("token " + id + " is not counted");
        slotCount[s]--;
    }

    public int count(int id) {
        int s = slotOf(id, false);
        return s < 0 ? 0 : slotCount[s];
    }

    /** Ids ever counted, in first-seen order (some may have count 0 now). */
    public int distinct() {
        return distinct;
    }

    public int id(int i) {
        return ids[i];
    }

    public int countAt(int i) {
        return slotCount[idSlot[i]];
    }

    private int slotOf(int id, boolean insert) {
        int mask = slots.length - 1;
        int s = mix(id) & mask;
        while (slots[s] != 0) {
            if (slots[s] == id + 1) return s;
            s = (s + 1) & mask;
        }
        if (!insert) return -1;
        if ((distinct + 1) * 2 > slots.length) {
            grow();
            return slotOf(id, true);
        }
        slots[s] = id + 1;
        if (distinct == ids.length) {
            ids = Arrays.copyOf(ids, distinct * 2);
            idSlot = Arrays.copyOf(idSlot, distinct * 2);
        }
        ids[distinct] = id;
        idSlot[distinct++] = s;
        return s;
    }

    private void grow() {
        int[] oldCount = slotCount;
        int[] oldSlotOfId = Arrays.copyOf(idSlot, distinct);
        slots = new int[slots.length * 2];
        slotCount = new int[slots.length];
        int mask = slots.length - 1;
        for (int i = 0; i < distinct; i++) {
            int s = mix(ids[i]) & mask;
            while (slots[s] != 0) s = (s + 1) & mask;
            slots[s] = ids[i] + 1;
            slotCount[s] = oldCount[oldSlotOfId[i]];
            idSlot[i] = s;
        }
    }

    private static int mix(int id) {
        int h = id * 0x9E3779B9;
        return h ^ (h >>> 16);
    }
}
