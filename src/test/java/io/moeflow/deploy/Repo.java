package io.moeflow.deploy;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;
import org.yaml.snakeyaml.LoaderOptions;
import org.yaml.snakeyaml.Yaml;
import org.yaml.snakeyaml.constructor.SafeConstructor;

/** The repository checkout the tests run in (Maven runs them with the project directory as working directory). */
final class Repo {
    static final Path ROOT = Path.of("").toAbsolutePath();

    private Repo() {}

    static Path path(String relative) {
        return ROOT.resolve(relative);
    }

    static String read(String relative) {
        try {
            return Files.readString(path(relative), StandardCharsets.UTF_8);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** Every document of a YAML file (SnakeYAML's safe loader: plain maps, lists and scalars). */
    @SuppressWarnings("unchecked")
    static List<Map<String, Object>> yamlDocuments(Path file) {
        Yaml yaml = new Yaml(new SafeConstructor(new LoaderOptions()));
        List<Map<String, Object>> docs = new ArrayList<>();
        try {
            for (Object doc : yaml.loadAll(Files.readString(file, StandardCharsets.UTF_8))) {
                if (doc == null) continue;
                if (!(doc instanceof Map<?, ?> map)) throw new AssertionError(ROOT.relativize(file) + ": a document is not a mapping");
                docs.add((Map<String, Object>) map);
            }
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        return docs;
    }

    static Map<String, Object> yaml(String relative) {
        List<Map<String, Object>> docs = yamlDocuments(path(relative));
        if (docs.size() != 1) throw new AssertionError(relative + " has " + docs.size() + " documents, expected 1");
        return docs.get(0);
    }

    /** Files under {@code dir} (relative paths, sorted), skipping build output and VCS folders. */
    static List<Path> files(String dir) {
        try (Stream<Path> s = Files.walk(path(dir))) {
            return s.filter(Files::isRegularFile)
                    .filter(p -> { String r = ROOT.relativize(p).toString(); return !r.startsWith("target/") && !r.contains("/.git/") && !r.startsWith(".git/"); })
                    .sorted().toList();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    // Small typed accessors for the nested maps SnakeYAML returns.

    @SuppressWarnings("unchecked")
    static Map<String, Object> asMap(Object node) {
        if (!(node instanceof Map)) throw new AssertionError("not a mapping: " + node);
        return (Map<String, Object>) node;
    }

    @SuppressWarnings("unchecked")
    static Map<String, Object> map(Object node, String key) {
        Object v = ((Map<String, Object>) node).get(key);
        if (v == null) return Map.of();
        if (!(v instanceof Map)) throw new AssertionError("\"" + key + "\" is not a mapping: " + v);
        return (Map<String, Object>) v;
    }

    @SuppressWarnings("unchecked")
    static List<Object> list(Object node, String key) {
        Object v = ((Map<String, Object>) node).get(key);
        if (v == null) return List.of();
        if (!(v instanceof List)) throw new AssertionError("\"" + key + "\" is not a list: " + v);
        return (List<Object>) v;
    }

    @SuppressWarnings("unchecked")
    static String string(Object node, String key) {
        Object v = ((Map<String, Object>) node).get(key);
        return v == null ? null : String.valueOf(v);
    }

    /** Follows a path of keys through nested mappings; null when a step is missing. */
    @SuppressWarnings("unchecked")
    static Object at(Object node, String... keys) {
        Object cur = node;
        for (String k : keys) {
            if (!(cur instanceof Map)) return null;
            cur = ((Map<String, Object>) cur).get(k);
        }
        return cur;
    }
}
