package io.moeflow.tokenizer;

import java.util.Arrays;

/** A growable int array (token ids and split offsets without boxing). */
final class IntList {
    private int[] a;
    private int n;

    IntList() {
        this(16);
    }

    IntList(int capacity) {
        a = new int[Math.max(capacity, 8)];
    }

    void add(int v) {
        if (n == a.length) {
            a = Arrays.copyOf(a, n * 2);
        }
        a[n++] = v;
    }

    int get(int i) {
        return a[i];
    }

    int size() {
        return n;
    }

    int[] toArray() {
        return Arrays.copyOf(a, n);
    }
}
