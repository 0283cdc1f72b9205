package io.moeflow.deploy;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Base64;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * The manifests tests' {@link Kustomize} renderer gives what the real kustomize gives ({@code kubectl kustomize},
 * where kubectl is installed; skipped where it is not): every resource of every kustomization, field for field.
 * So the renderer cannot drift from kustomize unnoticed on a machine that has it.
 */
class KustomizeAgreesWithKubectlTest {
    @ParameterizedTest
    @ValueSource(strings = {"k8s/base", "k8s/overlays/dev", "k8s/overlays/prod"})
    void theTestRendererMatchesKubectlKustomize(String dir) throws Exception {
        String real = kubectlKustomize(dir);
        Assumptions.assumeTrue(real != null, "skipped: kubectl is not installed");
        Path file = Files.createTempFile("kustomize", ".yaml");
        try {
            Files.writeString(file, real);
            Object expected = byKindAndName(Repo.yamlDocuments(file)), actual = byKindAndName(Kustomize.render(dir));
            assertEquals(expected, actual, () -> dir + ": first difference " + difference(expected, actual, ""));
        } finally {
            Files.delete(file);
        }
    }

    /** The resources keyed "Kind/name", each as a tree; a generated Secret's base64 data read back as stringData. */
    @SuppressWarnings("unchecked")
    private static Map<String, Object> byKindAndName(List<Map<String, Object>> resources) {
        Map<String, Object> out = new TreeMap<>();
        for (Map<String, Object> r : resources) {
            Map<String, Object> copy = new LinkedHashMap<>(r);
            if ("Secret".equals(copy.get("kind")) && copy.get("data") instanceof Map<?, ?> data) {
                Map<String, Object> plain = new LinkedHashMap<>();
                ((Map<String, Object>) data).forEach((k, v) -> plain.put(k, new String(Base64.getDecoder().decode(String.valueOf(v)), StandardCharsets.UTF_8)));
                copy.remove("data");
                copy.put("stringData", plain);
            }
            out.put(copy.get("kind") + "/" + Repo.string(Repo.map(copy, "metadata"), "name"), normalize(copy));
        }
        return out;
    }

    /** Maps compared without their key order; scalars as text (kustomize may quote what the sources did not). */
    @SuppressWarnings("unchecked")
    private static Object normalize(Object node) {
        if (node instanceof Map<?, ?> m) {
            Map<String, Object> out = new TreeMap<>();
            ((Map<String, Object>) m).forEach((k, v) -> out.put(k, normalize(v)));
            return out;
        }
        if (node instanceof List<?> l) {
            List<Object> out = new ArrayList<>();
            for (Object v : l) out.add(normalize(v));
            return out;
        }
        return node == null ? null : String.valueOf(node);
    }

    /** Where two trees first differ, as a path with both values. */
    private static String difference(Object a, Object b, String at) {
        if (a instanceof Map<?, ?> ma && b instanceof Map<?, ?> mb) {
            for (Object k : new java.util.TreeSet<Object>(ma.keySet().stream().map(String::valueOf).toList())) {
                String d = difference(ma.get(k), mb.get(k), at + "/" + k);
                if (d != null) return d;
            }
            return ma.equals(mb) ? null : at + ": keys " + ma.keySet() + " vs " + mb.keySet();
        }
        if (a instanceof List<?> la && b instanceof List<?> lb && la.size() == lb.size()) {
            for (int i = 0; i < la.size(); i++) {
                String d = difference(la.get(i), lb.get(i), at + "[" + i + "]");
                if (d != null) return d;
            }
            return null;
        }
        return java.util.Objects.equals(a, b) ? null : at + ": kustomize " + a + ", the renderer " + b;
    }

    /** The output of {@code kubectl kustomize dir}, or null where kubectl is not installed. */
    private static String kubectlKustomize(String dir) throws IOException, InterruptedException {
        Process p;
        try {
            p = new ProcessBuilder("kubectl", "kustomize", Repo.path(dir).toString()).redirectErrorStream(false).start();
        } catch (IOException notInstalled) {
            return null;
        }
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        String err = new String(p.getErrorStream().readAllBytes(), StandardCharsets.UTF_8);
        if (!p.waitFor(60, TimeUnit.SECONDS)) {
            p.destroyForcibly();
            throw new AssertionError("kubectl kustomize " + dir + " did not finish");
        }
        if (p.exitValue() != 0) throw new AssertionError("kubectl kustomize " + dir + " failed: " + err);
        return out;
    }
}
