package io.moeflow.deploy;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * Renders a kustomization the way {@code kubectl kustomize} does, for the subset of kustomize the manifests in
 * k8s/ use: resources (files and directories), namespace, patches (strategic merge, by kind and name), images,
 * secretGenerator literals without a hash suffix. Any other field fails the render, so a manifest that starts
 * using more of kustomize must extend this renderer (and its checks) too. {@code KustomizeAgreesWithKubectlTest}
 * compares its output with the real kustomize's wherever kubectl is installed.
 */
final class Kustomize {
    private static final Set<String> SUPPORTED = Set.of("apiVersion", "kind", "resources", "namespace", "patches",
            "images", "secretGenerator", "generatorOptions");
    /** Kinds with built-in schemas, whose lists of named things merge by key (custom resources' lists are replaced). */
    private static final Set<String> BUILT_IN = Set.of("Deployment", "Service", "ConfigMap", "Secret", "Job",
            "PersistentVolumeClaim", "PodDisruptionBudget", "NetworkPolicy");

    private Kustomize() {}

    /** The resources of the kustomization in {@code dir} (relative to the repository), in order. */
    static List<Map<String, Object>> render(String dir) {
        Path base = Repo.path(dir);
        Map<String, Object> k = Repo.yaml(dir + "/kustomization.yaml");
        for (String key : k.keySet()) {
            if (!SUPPORTED.contains(key)) throw new AssertionError(dir + "/kustomization.yaml: field \"" + key + "\" is not handled by the test renderer");
        }
        List<Map<String, Object>> out = new ArrayList<>();
        for (Object r : Repo.list(k, "resources")) {
            Path p = base.resolve(String.valueOf(r)).normalize();
            if (Files.isDirectory(p)) out.addAll(render(Repo.ROOT.relativize(p).toString()));
            else if (Files.isRegularFile(p)) out.addAll(Repo.yamlDocuments(p));
            else throw new AssertionError(dir + ": resource " + r + " does not exist");
        }
        Map<String, Object> genOptions = Repo.map(k, "generatorOptions");
        for (Object g : Repo.list(k, "secretGenerator")) {
            if (!Boolean.TRUE.equals(genOptions.get("disableNameSuffixHash"))) {
                throw new AssertionError(dir + ": generated names with a hash suffix are not handled by the test renderer");
            }
            Map<String, Object> data = new LinkedHashMap<>();
            for (Object literal : Repo.list(g, "literals")) {
                String s = String.valueOf(literal);
                data.put(s.substring(0, s.indexOf('=')), s.substring(s.indexOf('=') + 1));
            }
            Map<String, Object> secret = new LinkedHashMap<>();
            secret.put("apiVersion", "v1");
            secret.put("kind", "Secret");
            secret.put("metadata", new LinkedHashMap<>(Map.of("name", Repo.string(g, "name"))));
            secret.put("type", "Opaque");
            secret.put("stringData", data);
            out.add(secret);
        }
        for (Object p : Repo.list(k, "patches")) {
            if (Repo.string(p, "path") == null || ((Map<?, ?>) p).size() != 1) {
                throw new AssertionError(dir + ": only patches given by path are handled: " + p);
            }
            for (Map<String, Object> patch : Repo.yamlDocuments(base.resolve(Repo.string(p, "path")))) {
                Map<String, Object> target = find(out, Repo.string(patch, "kind"), Repo.string(Repo.map(patch, "metadata"), "name"));
                if (target == null) throw new AssertionError(dir + ": patch " + p + " matches no resource");
                merge(target, patch, BUILT_IN.contains(Repo.string(patch, "kind")));
            }
        }
        String namespace = Repo.string(k, "namespace");
        if (namespace != null) for (Map<String, Object> r : out) Repo.map(r, "metadata").put("namespace", namespace);
        for (Object image : Repo.list(k, "images")) setImage(out, Repo.string(image, "name"), Repo.string(image, "newName"), Repo.string(image, "newTag"));
        return out;
    }

    static Map<String, Object> find(List<Map<String, Object>> resources, String kind, String name) {
        for (Map<String, Object> r : resources) {
            if (kind.equals(Repo.string(r, "kind")) && name.equals(Repo.string(Repo.map(r, "metadata"), "name"))) return r;
        }
        return null;
    }

    static Map<String, Object> require(List<Map<String, Object>> resources, String kind, String name) {
        Map<String, Object> r = find(resources, kind, name);
        if (r == null) throw new AssertionError("no " + kind + " " + name + " in the rendered resources");
        return r;
    }

    /** Strategic merge: maps merge key by key; lists of containers, env, volumes, ports... merge by their key. */
    @SuppressWarnings("unchecked")
    private static void merge(Map<String, Object> target, Map<String, Object> patch, boolean builtIn) {
        for (var e : patch.entrySet()) {
            Object existing = target.get(e.getKey());
            Object value = e.getValue();
            if (existing instanceof Map && value instanceof Map) {
                merge((Map<String, Object>) existing, (Map<String, Object>) value, builtIn);
            } else if (builtIn && existing instanceof List && value instanceof List && mergeKey(e.getKey()) != null) {
                mergeList((List<Object>) existing, (List<Object>) value, mergeKey(e.getKey()));
            } else {
                target.put(e.getKey(), value);
            }
        }
    }

    private static String mergeKey(String field) {
        return switch (field) {
            case "containers", "initContainers", "env", "volumes" -> "name";
            case "volumeMounts" -> "mountPath";
            case "ports" -> "containerPort";
            default -> null;
        };
    }

    /**
     * Items of the patch merge into the target's item of the same key (or are new); as kustomize orders them, the
     * patch's items come first, in the patch's order, then the target's other items in theirs.
     */
    @SuppressWarnings("unchecked")
    private static void mergeList(List<Object> target, List<Object> patch, String key) {
        List<Object> merged = new ArrayList<>();
        for (Object item : patch) {
            Object id = ((Map<String, Object>) item).get(key);
            Map<String, Object> match = null;
            for (Object t : target) if (id != null && id.equals(((Map<String, Object>) t).get(key))) match = (Map<String, Object>) t;
            if (match != null) {
                merge(match, (Map<String, Object>) item, true);
                target.remove(match);
                merged.add(match);
            } else merged.add(item);
        }
        merged.addAll(target);
        target.clear();
        target.addAll(merged);
    }

    /** "registry:5000/moeflow:jvm" -> "registry:5000/moeflow": kustomize matches images by name, whatever their tag. */
    static String withoutTag(String image) {
        int slash = image.lastIndexOf('/');
        int colon = image.lastIndexOf(':');
        return colon > slash ? image.substring(0, colon) : image;
    }

    @SuppressWarnings("unchecked")
    private static void setImage(Object node, String name, String newName, String newTag) {
        if (node instanceof Map<?, ?> map) {
            Map<String, Object> m = (Map<String, Object>) map;
            if (m.containsKey("image") && m.containsKey("name") && name.equals(withoutTag(String.valueOf(m.get("image"))))) {
                m.put("image", (newName != null ? newName : name) + (newTag != null ? ":" + newTag : ""));
            }
            for (Object v : m.values()) setImage(v, name, newName, newTag);
        } else if (node instanceof List<?> list) {
            for (Object v : list) setImage(v, name, newName, newTag);
        }
    }
}
