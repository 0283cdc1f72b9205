package io.moeflow;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Deque;
import java.util.HashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.TreeSet;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * The README's arrows (section "Layout"), checked on the main sources (src/main/java and kernels/src/main/java):
 * every reference from one io.moeflow package to another, by import or by fully qualified name in code (comments
 * and string literals left out), must go down the layers, and the packages must form no cycle. Today's known
 * violations are listed in {@link #KNOWN}, each with the item of issue 15 that removes it; a new violation fails,
 * and so does an entry that no longer matches any reference, so the list only shrinks.
 */
class LayeringTest {
    /**
     * The layers, bottom first: a package may use the packages of lower layers and of its own group, nothing above.
     * Groups on one line are side by side: neither may use the other. Sub-packages belong to the group of their
     * first listed prefix ({@code model.arch} and {@code model.blocks} are inside {@code model}).
     */
    static final List<List<String>> LAYERS = List.of(
            List.of("kernels"),
            List.of("gguf"),                      // reads and writes files; gguf.synth (random models) inside it
            List.of("tokenizer", "experts"),      // text <-> ids; the expert store serves model its weights
            List.of("model"),                     // DecoderModel, model.blocks, model.arch
            List.of("engine"),                    // sequences, sampling, detokenization
            List.of("scheduler"),                 // continuous batching
            List.of("api"),                       // the service: api (shared path), api.http, api.kafka, api.chat
            List.of("loadgen"),                   // tools on top
            List.of("cli"));

    /**
     * Inside {@code api} the shared service path ({@code io.moeflow.api} itself) is what the adapters
     * ({@code api.http}, {@code api.kafka}, {@code api.chat}) build on: it uses none of them.
     */
    static final String SERVICE_CORE = "io.moeflow.api";

    /**
     * Today's known violations, as {@code "source class -> target package"}: each names the issue-15 item that
     * will remove it. Remove an entry when its reference is gone (the test fails on a stale entry); never add one.
     */
    static final Map<String, String> KNOWN = Map.ofEntries(
            // engine <-> scheduler cycle: "a small package of the types that cross layers (request, token event,
            // finish reason, sampling parameters, the generation interface) that imports nothing"
            Map.entry("io.moeflow.engine.Sequence -> io.moeflow.scheduler", "issue 15: cross-layer types package (engine <-> scheduler)"),
            // api <-> api.kafka cycle: "the shared service path publishes through an interface that Kafka implements"
            Map.entry("io.moeflow.api.GenerationService -> io.moeflow.api.kafka", "issue 15: publish through an interface Kafka implements (api <-> api.kafka)"),
            Map.entry("io.moeflow.api.GracefulShutdown -> io.moeflow.api.kafka", "issue 15: publish through an interface Kafka implements (api <-> api.kafka)"),
            // api <-> api.chat cycle: the chat request reader and template renderer used by the shared path
            Map.entry("io.moeflow.api.GenerationService -> io.moeflow.api.chat", "issue 15: the api <-> api.chat cycle"),
            Map.entry("io.moeflow.api.GenerationService -> io.moeflow.api.chat.jinja", "issue 15: the api <-> api.chat cycle"),
            Map.entry("io.moeflow.api.RequestParser -> io.moeflow.api.chat", "issue 15: the api <-> api.chat cycle"));

    static final List<Path> ROOTS = List.of(Path.of("src/main/java"), Path.of("kernels/src/main/java"));
    private static final Pattern PACKAGE = Pattern.compile("^package\\s+([\\w.]+)\\s*;", Pattern.MULTILINE);
    /** A reference to a type of another moeflow package: lower-case package segments, then a capitalised name (or a wildcard import). */
    private static final Pattern REFERENCE = Pattern.compile("\\b(io\\.moeflow(?:\\.[a-z]\\w*)+)\\.(?:[A-Z]\\w*|\\*)");

    /** Source class -> the moeflow packages it refers to (other than its own). */
    static Map<String, Set<String>> references;

    @BeforeAll
    static void scan() {
        references = new TreeMap<>();
        for (Path root : ROOTS) {
            assertTrue(Files.isDirectory(root), root.toAbsolutePath() + " (the test runs from the project root)");
            try (Stream<Path> files = Files.walk(root)) {
                files.filter(p -> p.toString().endsWith(".java")).forEach(LayeringTest::read);
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
        }
        assertTrue(references.size() > 100, "found the main sources: " + references.size() + " classes");
    }

    private static void read(Path file) {
        String src;
        try {
            src = Files.readString(file);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        Matcher pm = PACKAGE.matcher(src);
        if (!pm.find()) return; // package-info without a package, or none
        String pkg = pm.group(1);
        String name = file.getFileName().toString().replace(".java", "");
        Set<String> used = references.computeIfAbsent(pkg + "." + name, k -> new TreeSet<>());
        Matcher m = REFERENCE.matcher(code(src.substring(pm.end())));
        while (m.find()) if (!m.group(1).equals(pkg)) used.add(m.group(1));
    }

    /** The source without comments, string and character literals (a logger name or a link is no dependency). */
    static String code(String src) {
        StringBuilder out = new StringBuilder(src.length());
        int i = 0, n = src.length();
        while (i < n) {
            char c = src.charAt(i);
            if (src.startsWith("\"\"\"", i)) {
                int end = src.indexOf("\"\"\"", i + 3);
                i = end < 0 ? n : end + 3;
            } else if (c == '"' || c == '\'') {
                int j = i + 1;
                while (j < n && src.charAt(j) != c) j += src.charAt(j) == '\\' ? 2 : 1;
                i = j + 1;
            } else if (src.startsWith("//", i)) {
                int end = src.indexOf('\n', i);
                i = end < 0 ? n : end;
            } else if (src.startsWith("/*", i)) {
                int end = src.indexOf("*/", i + 2);
                i = end < 0 ? n : end + 2;
            } else {
                out.append(c);
                i++;
            }
        }
        return out.toString();
    }

    /** The group of a package ({@code io.moeflow.model.blocks} -> {@code model}), or null outside the layers. */
    static String group(String pkg) {
        String rest = pkg.startsWith("io.moeflow.") ? pkg.substring("io.moeflow.".length()) : pkg;
        String top = rest.contains(".") ? rest.substring(0, rest.indexOf('.')) : rest;
        for (List<String> layer : LAYERS) if (layer.contains(top)) return top;
        return null;
    }

    static int layer(String group) {
        for (int i = 0; i < LAYERS.size(); i++) if (LAYERS.get(i).contains(group)) return i;
        throw new IllegalArgumentException(group);
    }

    /** Why {@code from} (a package) may not use {@code to}, or null when it may. */
    static String rule(String from, String to) {
        String gf = group(from), gt = group(to);
        if (gf == null) return from + " is in no layer of LayeringTest.LAYERS (add it, and to the README's Layout)";
        if (gt == null) return to + " is in no layer of LayeringTest.LAYERS (add it, and to the README's Layout)";
        if (from.equals(SERVICE_CORE) && to.startsWith(SERVICE_CORE + "."))
            return "the shared service path uses an adapter of its own (api.http, api.kafka and api.chat build on it)";
        if (gf.equals(gt)) return null;
        int lf = layer(gf), lt = layer(gt);
        if (lt < lf) return null;
        return lt == lf ? gf + " and " + gt + " are side by side" : gf + " is below " + gt;
    }

    @Test
    void everyReferenceGoesDownTheLayers() {
        List<String> violations = new ArrayList<>();
        references.forEach((cls, used) -> {
            String pkg = cls.substring(0, cls.lastIndexOf('.'));
            for (String to : used) {
                String why = rule(pkg, to);
                if (why != null && !KNOWN.containsKey(cls + " -> " + to)) violations.add(cls + " -> " + to + ": " + why);
            }
        });
        assertEquals(List.of(), violations, "references against the README's arrows (fix the code, not KNOWN)");
    }

    @Test
    void thePackagesFormNoCycle() {
        // package graph, model.* as one node (inside model), without the known violations
        Map<String, Set<String>> graph = new TreeMap<>();
        references.forEach((cls, used) -> {
            String from = node(cls.substring(0, cls.lastIndexOf('.')));
            graph.computeIfAbsent(from, k -> new TreeSet<>());
            for (String to : used) {
                if (KNOWN.containsKey(cls + " -> " + to)) continue;
                String t = node(to);
                if (!t.equals(from)) graph.get(from).add(t);
            }
        });
        List<Set<String>> cycles = stronglyConnected(graph).stream().filter(c -> c.size() > 1).toList();
        if (!cycles.isEmpty()) {
            StringBuilder msg = new StringBuilder("package cycles:");
            for (Set<String> c : cycles) {
                msg.append("\n  ").append(c).append(':');
                references.forEach((cls, used) -> {
                    String from = node(cls.substring(0, cls.lastIndexOf('.')));
                    if (!c.contains(from)) return;
                    for (String to : used)
                        if (c.contains(node(to)) && !node(to).equals(from) && !KNOWN.containsKey(cls + " -> " + to))
                            msg.append("\n    ").append(cls).append(" -> ").append(to);
                });
            }
            fail(msg.toString());
        }
    }

    @Test
    void everyKnownViolationStillExists() {
        List<String> stale = new ArrayList<>();
        for (String entry : KNOWN.keySet()) {
            String[] parts = entry.split(" -> ");
            Set<String> used = references.get(parts[0]);
            if (used == null || !used.contains(parts[1])) stale.add(entry);
            else if (rule(parts[0].substring(0, parts[0].lastIndexOf('.')), parts[1]) == null)
                stale.add(entry + " (allowed by the rules anyway)");
        }
        assertEquals(List.of(), stale, "entries of LayeringTest.KNOWN that no longer match a reference: remove them");
    }

    /** The rules themselves: a reference up, side by side or into the service core's adapters fails. */
    @Test
    void theRulesRefuseWhatTheReadmeForbids() {
        assertTrue(rule("io.moeflow.model", "io.moeflow.scheduler") != null, "model -> scheduler is up");
        assertTrue(rule("io.moeflow.experts", "io.moeflow.model") != null, "experts serves model, never the reverse");
        assertTrue(rule("io.moeflow.experts", "io.moeflow.tokenizer") != null, "side by side");
        assertTrue(rule("io.moeflow.kernels", "io.moeflow.gguf") != null, "kernels import nothing");
        assertTrue(rule("io.moeflow.api", "io.moeflow.api.http") != null, "the service core uses no adapter");
        assertTrue(rule("io.moeflow.scheduler", "io.moeflow.cli") != null, "tools are on top");
        assertTrue(rule("io.moeflow.model.blocks", "io.moeflow.model") == null, "inside model");
        assertTrue(rule("io.moeflow.api.http", "io.moeflow.api") == null, "an adapter on the core");
        assertTrue(rule("io.moeflow.cli", "io.moeflow.kernels") == null, "down");
        Map<String, Set<String>> cyclic = Map.of("a", Set.of("b"), "b", Set.of("c"), "c", Set.of("a"), "d", Set.of("a"));
        assertEquals(List.of(Set.of("a", "b", "c")), stronglyConnected(cyclic).stream().filter(c -> c.size() > 1).toList());
        assertTrue(code("String s = \"io.moeflow.api.X\"; // io.moeflow.api.Y\n/* io.moeflow.api.Z */ int x;").indexOf("io.moeflow") < 0);
        Matcher m = REFERENCE.matcher("import io.moeflow.scheduler.*; io.moeflow.model.blocks.MoeFfn.Options o;");
        assertTrue(m.find() && m.group(1).equals("io.moeflow.scheduler") && m.find() && m.group(1).equals("io.moeflow.model.blocks"));
    }

    /** The node of a package in the cycle check: sub-packages of model are model. */
    static String node(String pkg) {
        return pkg.startsWith("io.moeflow.model.") ? "io.moeflow.model" : pkg;
    }

    /** Tarjan's strongly connected components (iterative enough for a few dozen packages: recursion is fine). */
    static List<Set<String>> stronglyConnected(Map<String, Set<String>> graph) {
        Map<String, Integer> index = new HashMap<>(), low = new HashMap<>();
        Deque<String> stack = new ArrayDeque<>();
        Set<String> onStack = new LinkedHashSet<>();
        List<Set<String>> out = new ArrayList<>();
        int[] counter = {0};
        for (String v : new TreeSet<>(graph.keySet())) if (!index.containsKey(v)) connect(v, graph, index, low, stack, onStack, out, counter);
        return out;
    }

    private static void connect(String v, Map<String, Set<String>> graph, Map<String, Integer> index, Map<String, Integer> low,
                                Deque<String> stack, Set<String> onStack, List<Set<String>> out, int[] counter) {
        index.put(v, counter[0]);
        low.put(v, counter[0]++);
        stack.push(v);
        onStack.add(v);
        for (String w : graph.getOrDefault(v, Set.of())) {
            if (!index.containsKey(w)) {
                connect(w, graph, index, low, stack, onStack, out, counter);
                low.put(v, Math.min(low.get(v), low.get(w)));
            } else if (onStack.contains(w)) low.put(v, Math.min(low.get(v), index.get(w)));
        }
        if (low.get(v).equals(index.get(v))) {
            Set<String> c = new TreeSet<>();
            String w;
            do {
                w = stack.pop();
                onStack.remove(w);
                c.add(w);
            } while (!w.equals(v));
            out.add(c);
        }
    }
}
