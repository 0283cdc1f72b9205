package io.moeflow.engine.grammar;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;

/**
 * A grammar's pushdown matcher over bytes, as llama.cpp's llama_grammar (advance_stack / accept), with its
 * configurations interned and their byte transitions memoized, so that it becomes a lazily built automaton: a
 * {@link State} is the set of stacks the grammar can be in after some text (each stack's top a byte-set element),
 * plus whether the text so far is complete. States and transitions are shared by every user of the grammar; all
 * methods lock this object, as the step loop and a request thread may touch it at once.
 *
 * <p>Memory is bounded: past {@value #MAX_STATES} states the memo is dropped and rebuilt from what is used next
 * (states still held keep working: they are recomputed, never wrong).
 */
public final class CompiledGrammar {
    static final int MAX_STATES = 5_000;
    /** Rule expansion deeper than this means a grammar that loops without consuming a byte. */
    private static final int MAX_EXPANSION_DEPTH = 2_000;

    private final Grammar.Compiled g;
    private final HashMap<Long, Stack> stacks = new HashMap<>();
    private final HashMap<Key, State> states = new HashMap<>();
    private long nextStackId = 1;
    private final State start;
    /** Scratch for one transition. */
    private final ArrayList<Stack> collected = new ArrayList<>();
    private final java.util.HashSet<Long> collectedIds = new java.util.HashSet<>();
    private boolean collectedAccepting;

    CompiledGrammar(Grammar.Compiled compiled) {
        this.g = compiled;
        synchronized (this) {
            beginCollect();
            for (int alt : g.alternatives()[g.root()]) expand(alt, null, 0);
            start = endCollect();
        }
        if (start == null) throw new IllegalArgumentException("the grammar matches nothing");
    }

    /** An immutable stack of grammar positions; {@code parent} is what follows once the top's rule ends. */
    private record Stack(int pos, Stack parent, long id) {}

    private record Key(long[] stackIds, boolean accepting) {
        @Override
        public boolean equals(Object o) {
            return o instanceof Key k && accepting == k.accepting && Arrays.equals(stackIds, k.stackIds);
        }

        @Override
        public int hashCode() {
            return Arrays.hashCode(stackIds) * 31 + (accepting ? 1 : 0);
        }
    }

    /** Where the matcher can be after some text. Immutable to its users. */
    public static final class State {
        private final Stack[] stacks;
        private final boolean accepting;
        /** Memoized transitions by byte: null unknown, DEAD no way on. */
        private State[] next;
        /** What GrammarConstraint caches per state (its token mask). */
        Object tokenMask;

        private State(Stack[] stacks, boolean accepting) {
            this.stacks = stacks;
            this.accepting = accepting;
        }

        /** The text so far is a complete sentence of the grammar. */
        public boolean complete() {
            return accepting;
        }

        /** Complete, and no byte can follow. */
        public boolean finished() {
            return accepting && stacks.length == 0;
        }
    }

    private static final State DEAD = new State(new Stack[0], false);

    public State start() {
        return start;
    }

    /** The state after {@code b} (0..255) in state {@code s}, or null when the grammar does not allow it. */
    public synchronized State step(State s, int b) {
        State t = stepLocked(s, b);
        return t == DEAD ? null : t;
    }

    /** The state after {@code bytes} from {@code s}, or null when they leave the grammar. */
    public synchronized State walk(State s, byte[] bytes) {
        for (int i = 0; i < bytes.length && s != null; i++) {
            s = stepLocked(s, bytes[i] & 0xFF);
            if (s == DEAD) s = null;
        }
        return s;
    }

    /** Whether {@code bytes} are a complete sentence of the grammar. */
    public boolean matches(byte[] bytes) {
        State s = walk(start, bytes);
        return s != null && s.accepting;
    }

    /** Interned states (for tests and measurements). */
    public synchronized int stateCount() {
        return states.size();
    }

    /** Runs {@code work} holding this grammar's lock (GrammarConstraint's trie walk takes many steps). */
    synchronized <T> T locked(java.util.function.Supplier<T> work) {
        return work.get();
    }

    /** {@link #step} for a caller that holds the lock; returns DEAD rather than null. */
    State stepLocked(State s, int b) {
        State[] next = s.next;
        if (next == null) {
            if (states.size() > MAX_STATES) forget();
            next = s.next = new State[256];
        }
        State t = next[b];
        if (t != null) return t;
        beginCollect();
        for (Stack stack : s.stacks) {
            int code = g.code()[stack.pos];
            if (g.byteSets()[code].contains(b)) expand(stack.pos + 1, stack.parent, 0);
        }
        t = endCollect();
        if (t == null) t = DEAD;
        next[b] = t;
        return t;
    }

    static boolean dead(State s) {
        return s == DEAD;
    }

    private void forget() {
        for (State s : states.values()) {
            s.next = null;
            s.tokenMask = null;
        }
        states.clear();
        stacks.clear();
    }

    private void beginCollect() {
        collected.clear();
        collectedIds.clear();
        collectedAccepting = false;
    }

    private State endCollect() {
        if (collected.isEmpty() && !collectedAccepting) return null;
        Stack[] found = collected.toArray(Stack[]::new);
        Arrays.sort(found, (a, b) -> Long.compare(a.id, b.id));
        long[] ids = new long[found.length];
        for (int i = 0; i < found.length; i++) ids[i] = found[i].id;
        Key key = new Key(ids, collectedAccepting);
        State known = states.get(key);
        if (known != null) return known;
        State s = new State(found, collectedAccepting);
        states.put(key, s);
        return s;
    }

    /**
     * Collects the stacks reached from position {@code pos} (with {@code parent} below it) whose top is a byte set,
     * expanding rule references and popping finished alternatives (llama_grammar_advance_stack).
     */
    private void expand(int pos, Stack parent, int depth) {
        if (depth > MAX_EXPANSION_DEPTH) {
            throw new IllegalStateException("the grammar expands rules " + MAX_EXPANSION_DEPTH
                    + " deep without matching a byte (left recursion?) at rule " + ruleAt(pos));
        }
        int code = g.code()[pos];
        if (code == Grammar.END) {
            if (parent == null) collectedAccepting = true;
            else expand(parent.pos, parent.parent, depth + 1);
        } else if (code >= 0) {
            Stack s = stack(pos, parent);
            if (collectedIds.add(s.id)) collected.add(s);
        } else {
            int rule = Grammar.refRule(code);
            // a reference in tail position pushes nothing: right recursion stays flat
            Stack continuation = g.code()[pos + 1] == Grammar.END ? parent : stack(pos + 1, parent);
            for (int alt : g.alternatives()[rule]) expand(alt, continuation, depth + 1);
        }
    }

    private Stack stack(int pos, Stack parent) {
        long key = (parent == null ? 0 : parent.id) * 0x1_0000_0000L + pos;
        Stack s = stacks.get(key);
        if (s == null || s.parent != parent || s.pos != pos) { // after forget() or a key collision
            s = new Stack(pos, parent, nextStackId++);
            stacks.put(key, s);
        }
        return s;
    }

    private String ruleAt(int pos) {
        int[][] alts = g.alternatives();
        int best = -1, bestStart = -1;
        for (int r = 0; r < alts.length; r++) {
            for (int a : alts[r]) if (a <= pos && a > bestStart) {
                best = r;
                bestStart = a;
            }
        }
        return best < 0 ? "?" : g.ruleNames()[best];
    }
}
