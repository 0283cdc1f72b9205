package io.moeflow.engine.grammar;

import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.IdentityHashMap;
import java.util.List;
import java.util.Map;

/**
 * A context-free grammar over bytes, built from expressions (as llama.cpp's GBNF, but over UTF-8 bytes rather than
 * code points, so that a token ending inside a multi-byte character needs no partial-character state: non-ASCII
 * text is matched byte by byte, {@link #utf8Char()} spells out the valid UTF-8 sequences). Recursive rules go
 * through {@link Rule}s: {@code Rule r = Grammar.rule("value"); r.define(...)} and use {@code r} in expressions.
 * Repetitions are bounded or right-recursive, so the matcher's stacks stay flat.
 *
 * <p>Example, a JSON array of booleans: {@code seq(literal("["), opt(seq(b, star(seq(literal(","), b)))),
 * literal("]"))} with {@code b = alt(literal("true"), literal("false"))}; then {@link #compile(Expr)}.
 * A grammar must not be left-recursive through nullable parts (the compiled form refuses what loops).
 */
public final class Grammar {
    /** A grammar expression. Immutable; may be shared between grammars. */
    public sealed interface Expr permits ByteSet, Seq, Alt, Repeat, Rule {}

    /** One byte out of a set (bits of the 256 byte values). */
    public record ByteSet(long[] bits) implements Expr {
        public ByteSet {
            if (bits.length != 4) throw new IllegalArgumentException("a byte set has 4 words of bits");
            bits = bits.clone();
        }

        boolean contains(int b) {
            return (bits[b >>> 6] >>> (b & 63) & 1L) != 0;
        }

        @Override
        public boolean equals(Object o) {
            return o instanceof ByteSet other && Arrays.equals(bits, other.bits);
        }

        @Override
        public int hashCode() {
            return Arrays.hashCode(bits);
        }
    }

    public record Seq(List<Expr> items) implements Expr {
        public Seq {
            items = List.copyOf(items);
        }
    }

    public record Alt(List<Expr> options) implements Expr {
        public Alt {
            if (options.isEmpty()) throw new IllegalArgumentException("an alternative needs at least one option");
            options = List.copyOf(options);
        }
    }

    /** {@code item} repeated min..max times; max {@link #UNBOUNDED} for no limit. */
    public record Repeat(Expr item, int min, int max) implements Expr {
        public Repeat {
            if (min < 0 || (max != UNBOUNDED && max < min)) throw new IllegalArgumentException("bad repetition {" + min + "," + max + "}");
        }
    }

    /** A named rule, defined once (possibly after being used, for recursion). Identity matters, not the name. */
    public static final class Rule implements Expr {
        private final String name;
        private Expr body;

        private Rule(String name) {
            this.name = name;
        }

        public String name() {
            return name;
        }

        public Rule define(Expr body) {
            if (this.body != null) throw new IllegalStateException("rule " + name + " is already defined");
            this.body = java.util.Objects.requireNonNull(body);
            return this;
        }

        @Override
        public String toString() {
            return "Rule[" + name + "]";
        }
    }

    public static final int UNBOUNDED = -1;

    public static Rule rule(String name) {
        return new Rule(name);
    }

    /** The UTF-8 bytes of {@code text}, in order. */
    public static Expr literal(String text) {
        byte[] bytes = text.getBytes(StandardCharsets.UTF_8);
        List<Expr> items = new ArrayList<>(bytes.length);
        for (byte b : bytes) items.add(range(b & 0xFF, b & 0xFF));
        return items.size() == 1 ? items.getFirst() : new Seq(items);
    }

    /** One byte in [lo, hi]. */
    public static ByteSet range(int lo, int hi) {
        if (lo < 0 || hi > 255 || lo > hi) throw new IllegalArgumentException("bad byte range " + lo + ".." + hi);
        long[] bits = new long[4];
        for (int b = lo; b <= hi; b++) bits[b >>> 6] |= 1L << (b & 63);
        return new ByteSet(bits);
    }

    /** One byte out of the given characters (all ASCII). */
    public static ByteSet anyOf(String asciiChars) {
        long[] bits = new long[4];
        for (int i = 0; i < asciiChars.length(); i++) {
            char c = asciiChars.charAt(i);
            if (c > 127) throw new IllegalArgumentException("anyOf takes ASCII characters, got U+" + Integer.toHexString(c));
            bits[c >>> 6] |= 1L << (c & 63);
        }
        return new ByteSet(bits);
    }

    /** The union of byte sets. */
    public static ByteSet union(ByteSet... sets) {
        long[] bits = new long[4];
        for (ByteSet s : sets) for (int i = 0; i < 4; i++) bits[i] |= s.bits()[i];
        return new ByteSet(bits);
    }

    /** The bytes not in {@code set}. */
    public static ByteSet not(ByteSet set) {
        long[] bits = new long[4];
        for (int i = 0; i < 4; i++) bits[i] = ~set.bits()[i];
        return new ByteSet(bits);
    }

    public static Expr seq(Expr... items) {
        return items.length == 1 ? items[0] : new Seq(List.of(items));
    }

    public static Expr alt(Expr... options) {
        return options.length == 1 ? options[0] : new Alt(List.of(options));
    }

    public static Expr alt(List<? extends Expr> options) {
        return options.size() == 1 ? options.getFirst() : new Alt(List.copyOf(options));
    }

    public static Expr opt(Expr item) {
        return new Repeat(item, 0, 1);
    }

    public static Expr star(Expr item) {
        return new Repeat(item, 0, UNBOUNDED);
    }

    public static Expr plus(Expr item) {
        return new Repeat(item, 1, UNBOUNDED);
    }

    public static Expr repeat(Expr item, int min, int max) {
        return new Repeat(item, min, max);
    }

    /** The empty string. */
    public static Expr empty() {
        return new Seq(List.of());
    }

    /**
     * One non-ASCII character as valid UTF-8 (2 to 4 bytes; no overlong forms, no surrogates, nothing above
     * U+10FFFF), as RFC 3629's table spells it.
     */
    public static Expr utf8NonAscii() {
        ByteSet tail = range(0x80, 0xBF);
        return alt(
                seq(range(0xC2, 0xDF), tail),
                seq(range(0xE0, 0xE0), range(0xA0, 0xBF), tail),
                seq(range(0xE1, 0xEC), tail, tail),
                seq(range(0xED, 0xED), range(0x80, 0x9F), tail),
                seq(range(0xEE, 0xEF), tail, tail),
                seq(range(0xF0, 0xF0), range(0x90, 0xBF), tail, tail),
                seq(range(0xF1, 0xF3), tail, tail, tail),
                seq(range(0xF4, 0xF4), range(0x80, 0x8F), tail, tail));
    }

    /** Any one character (code point) as valid UTF-8. */
    public static Expr utf8Char() {
        return alt(range(0x00, 0x7F), utf8NonAscii());
    }

    // ---- the compiled form ----

    /** Element codes in {@link Compiled#code}: >= 0 a byte set, END ends an alternative, below END a rule reference. */
    static final int END = -1;

    static int ref(int rule) {
        return -2 - rule;
    }

    static int refRule(int code) {
        return -2 - code;
    }

    /**
     * The flat form the matcher walks, as llama.cpp's llama_grammar_rules: each rule is a list of alternatives, each
     * alternative a run of elements in {@code code} closed by END. A position is an index into {@code code}.
     */
    record Compiled(int[] code, int[][] alternatives, ByteSet[] byteSets, int root, String[] ruleNames) {}

    /** Compiles {@code root} (with every rule it reaches) into the flat form. Throws on an undefined rule. */
    public static CompiledGrammar compile(Expr root) {
        return new CompiledGrammar(new Compiler().run(root));
    }

    private static final class Compiler {
        private final List<List<List<Integer>>> rules = new ArrayList<>();
        private final List<String> names = new ArrayList<>();
        private final Map<ByteSet, Integer> setIds = new HashMap<>();
        private final List<ByteSet> sets = new ArrayList<>();
        private final Map<Rule, Integer> namedRules = new IdentityHashMap<>();
        private final Map<Expr, Integer> anonymousRules = new IdentityHashMap<>();

        Compiled run(Expr root) {
            int rootRule = ruleFor(root, "root");
            List<Integer> flat = new ArrayList<>();
            int[][] alternatives = new int[rules.size()][];
            for (int r = 0; r < rules.size(); r++) {
                List<List<Integer>> alts = rules.get(r);
                alternatives[r] = new int[alts.size()];
                for (int a = 0; a < alts.size(); a++) {
                    alternatives[r][a] = flat.size();
                    flat.addAll(alts.get(a));
                    flat.add(END);
                }
            }
            return new Compiled(flat.stream().mapToInt(Integer::intValue).toArray(), alternatives,
                    sets.toArray(ByteSet[]::new), rootRule, names.toArray(String[]::new));
        }

        /** The rule matching {@code e} exactly (a rule of its own, even for a single element). */
        private int ruleFor(Expr e, String name) {
            if (e instanceof Rule r) return named(r);
            Integer known = anonymousRules.get(e);
            if (known != null) return known;
            int id = newRule(name);
            anonymousRules.put(e, id);
            rules.set(id, alternatives(e, name));
            return id;
        }

        private int named(Rule r) {
            Integer known = namedRules.get(r);
            if (known != null) return known;
            if (r.body == null) throw new IllegalStateException("rule " + r.name + " is used but never defined");
            int id = newRule(r.name);
            namedRules.put(r, id);
            rules.set(id, alternatives(r.body, r.name));
            return id;
        }

        private int newRule(String name) {
            rules.add(null);
            names.add(name);
            return rules.size() - 1;
        }

        private List<List<Integer>> alternatives(Expr e, String name) {
            List<List<Integer>> alts = new ArrayList<>();
            if (e instanceof Alt a) {
                for (Expr option : a.options()) {
                    List<Integer> seq = new ArrayList<>();
                    append(option, seq, name);
                    alts.add(seq);
                }
            } else {
                List<Integer> seq = new ArrayList<>();
                append(e, seq, name);
                alts.add(seq);
            }
            return alts;
        }

        /** Appends the elements of {@code e} to a sequence, making rules for alternatives and repetitions. */
        private void append(Expr e, List<Integer> seq, String name) {
            switch (e) {
                case ByteSet s -> seq.add(setIds.computeIfAbsent(s, k -> {
                    sets.add(k);
                    return sets.size() - 1;
                }));
                case Seq s -> {
                    for (Expr item : s.items()) append(item, seq, name);
                }
                case Rule r -> seq.add(ref(named(r)));
                case Alt a -> seq.add(ref(ruleFor(a, name + "-alt")));
                case Repeat r -> appendRepeat(r, seq, name);
            }
        }

        /**
         * {@code x{m,n}} as llama.cpp writes it: m copies of x, then n - m nested optionals ({@code x (x (x)?)?}),
         * or for no limit a right-recursive rule {@code s ::= x s | ε} (tail position, so the stack stays flat).
         */
        private void appendRepeat(Repeat r, List<Integer> seq, String name) {
            for (int i = 0; i < r.min(); i++) append(r.item(), seq, name);
            if (r.max() == r.min()) return;
            int item = ruleFor(r.item(), name + "-item");
            if (r.max() == UNBOUNDED) {
                int star = newRule(name + "-star");
                rules.set(star, List.of(List.of(ref(item), ref(star)), List.of()));
                seq.add(ref(star));
                return;
            }
            int inner = -1;
            for (int k = 1; k <= r.max() - r.min(); k++) {
                int optional = newRule(name + "-opt" + k);
                List<Integer> more = inner < 0 ? List.of(ref(item)) : List.of(ref(item), ref(inner));
                rules.set(optional, List.of(more, List.of()));
                inner = optional;
            }
            seq.add(ref(inner));
        }
    }
}
