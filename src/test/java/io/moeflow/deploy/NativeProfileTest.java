package io.moeflow.deploy;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.moeflow.api.kafka.TopicDefinitions;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;
import org.w3c.dom.Element;
import org.w3c.dom.NodeList;

/**
 * The `native` Maven profile cannot be built here (no native-image); these checks keep its configuration
 * complete: the Vector API and FFM flags, the resources read at run time, and that nothing needs reflection registered by hand.
 */
class NativeProfileTest {
    static Map<String, String> nativeProperties() throws Exception {
        NodeList profiles = DockerFilesTest.pom().getElementsByTagName("profile");
        for (int i = 0; i < profiles.getLength(); i++) {
            Element profile = (Element) profiles.item(i);
            if (!"native".equals(profile.getElementsByTagName("id").item(0).getTextContent().trim())) continue;
            Map<String, String> props = new HashMap<>();
            NodeList children = ((Element) profile.getElementsByTagName("properties").item(0)).getChildNodes();
            for (int j = 0; j < children.getLength(); j++) {
                if (children.item(j) instanceof Element e) props.put(e.getTagName(), e.getTextContent().trim());
            }
            assertEquals("native", ((Element) profile.getElementsByTagName("activation").item(0)).getElementsByTagName("name").item(0).getTextContent().trim(),
                    "-Dnative activates the profile");
            return props;
        }
        throw new AssertionError("pom.xml has no native profile");
    }

    @Test
    void buildsANativeExecutableWithTheVectorAndForeignMemoryApis() throws Exception {
        Map<String, String> p = nativeProperties();
        assertEquals("true", p.get("quarkus.native.enabled"));
        List<String> args = Arrays.asList(p.get("quarkus.native.additional-build-args").split(","));
        assertTrue(args.contains("--add-modules=jdk.incubator.vector"), args.toString());
        // Experimental options need the unlock before them.
        int unlock = args.indexOf("-H:+UnlockExperimentalVMOptions");
        assertTrue(unlock >= 0 && unlock < args.indexOf("-H:+VectorAPISupport"), args.toString());
        assertTrue(args.indexOf("-H:+ForeignAPISupport") > unlock, "the GGUF file is mapped with the FFM API: " + args);
    }

    @Test
    void includesTheTopicDefinitionsButNoModel() throws Exception {
        String includes = nativeProperties().get("quarkus.native.resources.includes");
        assertNotNull(includes);
        List<Pattern> globs = Arrays.stream(includes.split(",")).map(g -> Pattern.compile(
                g.trim().replace(".", "\\.").replace("**", "\u0000").replace("*", "[^/]*").replace("\u0000", ".*"))).toList();
        List<String> needed = new java.util.ArrayList<>(List.of(TopicDefinitions.RESOURCE));
        for (Path f : Repo.files("kafka-topics")) needed.add(Repo.ROOT.relativize(f).toString());
        for (String resource : needed) {
            assertTrue(globs.stream().anyMatch(g -> g.matcher(resource).matches()), resource + " is not included in the native image");
        }
        for (Path f : Repo.files("models")) {
            String rel = Repo.ROOT.relativize(f).toString();
            assertFalse(globs.stream().anyMatch(g -> g.matcher(rel).matches()), rel + " would be built into the native image");
        }
        assertFalse(Repo.read("pom.xml").contains("<include>models"), "the model is a resource of the build");
    }

    /**
     * Chat templates reach values only through the interpreter's closed set of builtins (no reflection, no
     * lookup by name of Java classes or methods), so a native image needs no reflection registration for them.
     */
    @Test
    void chatTemplatesNeedNoReflection() throws Exception {
        for (Path f : Repo.files("src/main/java/io/moeflow/api/chat")) {
            String source = Repo.read(Repo.ROOT.relativize(f).toString());
            for (String reflective : List.of("java.lang.reflect", "Class.forName", "getMethod(", "getDeclaredMethod(", "MethodHandles")) {
                assertFalse(source.contains(reflective), f + " uses " + reflective);
            }
        }
    }
}
