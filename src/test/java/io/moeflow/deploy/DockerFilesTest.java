package io.moeflow.deploy;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.moeflow.api.MoeflowConfig;
import java.nio.file.Files;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import javax.xml.parsers.DocumentBuilderFactory;
import org.junit.jupiter.api.Test;
import org.w3c.dom.Document;
import org.w3c.dom.Element;
import org.w3c.dom.NodeList;

/**
 * docker/ and .dockerignore: the Dockerfiles and the compose file agree with the application's configuration
 * (port, health path, variables, Kafka), and copy only what exists and the build context lets in. What the
 * Maven build produces (target/quarkus-app) is checked after `package` by {@link DockerfileCopyIT}.
 */
class DockerFilesTest {
    static final String JVM = "docker/Dockerfile.jvm";
    static final String NATIVE = "docker/Dockerfile.native";

    static Document pom() throws Exception {
        return DocumentBuilderFactory.newInstance().newDocumentBuilder().parse(Repo.path("pom.xml").toFile());
    }

    static String pomValue(String tag) throws Exception {
        NodeList n = pom().getElementsByTagName(tag);
        if (n.getLength() == 0) throw new AssertionError("pom.xml has no <" + tag + ">");
        return n.item(0).getTextContent().trim();
    }

    static String kafkaVersion() {
        try {
            return pomValue("kafka.version");
        } catch (Exception e) {
            throw new IllegalStateException(e);
        }
    }

    /** ENV instructions of a stage (KEY=value forms, quotes removed). */
    static Map<String, String> env(Dockerfile.Stage stage) {
        Map<String, String> env = new LinkedHashMap<>();
        Pattern assignment = Pattern.compile("([A-Za-z_][A-Za-z0-9_]*)=(\"(?:[^\"\\\\]|\\\\.)*\"|\\S+)");
        for (Dockerfile.Instruction i : stage.all("ENV")) {
            Matcher m = assignment.matcher(i.args());
            boolean any = false;
            while (m.find()) {
                String v = m.group(2);
                env.put(m.group(1), v.startsWith("\"") ? v.substring(1, v.length() - 1) : v);
                any = true;
            }
            assertTrue(any, "ENV without KEY=value at line " + i.line());
        }
        return env;
    }

    /** The exec form after HEALTHCHECK's CMD: the script and its health path. */
    static List<String> healthcheckCommand(Dockerfile.Stage image) {
        Dockerfile.Instruction h = image.all("HEALTHCHECK").get(0);
        String cmd = h.args().substring(h.args().indexOf("CMD") + 3).trim();
        return new Dockerfile.Instruction("CMD", cmd, h.line()).words();
    }

    @Test
    void bothImagesServeTheConfiguredPortHealthAndVariables() {
        int httpPort = AppConfig.effective(Map.of()).getValue("quarkus.http.port", Integer.class);
        for (String file : List.of(JVM, NATIVE)) {
            Dockerfile.Stage image = Dockerfile.parse(file).last();
            assertEquals(String.valueOf(httpPort), image.all("EXPOSE").get(0).args(), file + ": EXPOSE");
            assertEquals(AppConfigPaths.readiness(), healthcheckCommand(image).get(1), file + ": HEALTHCHECK path");
            Map<String, String> env = env(image);
            assertEquals(List.of(), List.copyOf(AppConfig.unknownVariables(env.keySet())), file + ": variables that configure nothing");
            MoeflowConfig m = AppConfig.mapping(env);
            assertTrue(m.model().path().startsWith("/models/"), file + ": model path " + m.model().path());
            assertTrue(image.all("VOLUME").get(0).args().contains("\"/models\""), file + ": the model volume");
            List<Dockerfile.Instruction> user = image.all("USER");
            assertFalse(user.isEmpty() || user.get(user.size() - 1).args().startsWith("0") || user.get(user.size() - 1).args().startsWith("root"),
                    file + ": runs as root");
        }
        String jvmOptions = env(Dockerfile.parse(JVM).last()).get("JDK_JAVA_OPTIONS");
        assertNotNull(jvmOptions, JVM + ": JDK_JAVA_OPTIONS");
        assertTrue(jvmOptions.contains("--add-modules=jdk.incubator.vector"), JVM + ": the Vector API flag");
    }

    /**
     * The images listen on every interface of the container and so start only with an API key (or an explicit
     * allowance); compose allows it because it publishes the port on the host's loopback only.
     */
    @Test
    void theImagesNeedAKeyAndComposeStaysOnTheHostsLoopback() {
        for (String file : List.of(JVM, NATIVE)) {
            Map<String, String> env = env(Dockerfile.parse(file).last());
            var config = AppConfig.effective(env);
            String host = config.getValue("quarkus.http.host", String.class);
            assertFalse(io.moeflow.api.http.AccessControl.isLoopbackHost(host), file + ": listens on " + host + ", unreachable from outside the container");
            assertNotNull(io.moeflow.api.http.AccessControl.exposureRefusal(host, false, AppConfig.mapping(env).http().allowRemoteWithoutKey()),
                    file + ": starts open to the network without an API key");
            Map<String, String> withKey = new LinkedHashMap<>(env);
            withKey.put("MOEFLOW_API_KEY", "k");
            assertNull(io.moeflow.api.http.AccessControl.exposureRefusal(host, AppConfig.mapping(withKey).apiKey().isPresent(), false),
                    file + ": refuses to start even with a key");
        }
        Map<String, Object> moeflow = Repo.map(Repo.map(Repo.yaml("docker/compose.yaml"), "services"), "moeflow");
        Map<String, String> env = new LinkedHashMap<>();
        Repo.map(moeflow, "environment").forEach((k, v) -> env.put(k, String.valueOf(v).replace("${MOEFLOW_API_KEY:-}", "")));
        var config = AppConfig.effective(env);
        MoeflowConfig m = config.getConfigMapping(MoeflowConfig.class);
        assertNull(io.moeflow.api.http.AccessControl.exposureRefusal(config.getValue("quarkus.http.host", String.class),
                m.apiKey().filter(k -> !k.isBlank()).isPresent(), m.http().allowRemoteWithoutKey()), "compose: the service would refuse to start");
        for (Object port : Repo.list(moeflow, "ports")) {
            assertTrue(String.valueOf(port).startsWith("127.0.0.1:"), "compose publishes " + port + " beyond the host's loopback");
        }
    }

    /** Sources copied from the build context exist in the repository and are not left out by .dockerignore. */
    @Test
    void copiesFromTheContextExistAndAreNotIgnored() {
        DockerIgnore ignore = new DockerIgnore(Repo.read(".dockerignore"));
        for (String file : List.of(JVM, NATIVE)) {
            for (Dockerfile.Stage stage : Dockerfile.parse(file).stages()) {
                for (Dockerfile.Copy copy : Dockerfile.copies(stage)) {
                    if (copy.from() != null) continue;
                    for (String source : copy.sources()) {
                        String path = source.endsWith("/") ? source.substring(0, source.length() - 1) : source;
                        assertFalse(ignore.excluded(path), file + ":" + copy.line() + ": " + source + " is excluded by .dockerignore");
                        if (path.startsWith("target/")) continue; // produced by `package`: DockerfileCopyIT
                        assertTrue(Files.exists(Repo.path(path)), file + ":" + copy.line() + ": " + source + " does not exist");
                    }
                }
            }
        }
        // The image never carries a model, and only the application of target/ is sent.
        assertTrue(ignore.excluded("models/stories260K/stories260K.gguf"));
        assertTrue(ignore.excluded("target/classes/application.properties"));
        assertTrue(ignore.excluded("src/test/java/io/moeflow/deploy/DockerFilesTest.java"));
        assertFalse(ignore.excluded("target/quarkus-app/quarkus-run.jar"));
    }

    /** The native build copies every source folder and resource the POM builds from, and takes the runner it makes. */
    @Test
    void theNativeBuildHasItsSourcesAndCopiesTheExecutableItBuilds() throws Exception {
        Dockerfile native_ = Dockerfile.parse(NATIVE);
        Dockerfile.Stage build = native_.stages().get(0);
        List<String> copied = new ArrayList<>();
        for (Dockerfile.Copy c : Dockerfile.copies(build)) copied.addAll(c.sources());
        List<String> needed = new ArrayList<>(List.of("mvnw", "pom.xml", ".mvn/", "src/main/"));
        Document pom = pom();
        NodeList sources = pom.getElementsByTagName("source");
        for (int i = 0; i < sources.getLength(); i++) {
            String s = sources.item(i).getTextContent().trim();
            if (s.contains("/main/")) needed.add(s.substring(0, s.indexOf("/main/") + "/main/".length()));
        }
        NodeList includes = pom.getElementsByTagName("include");
        for (int i = 0; i < includes.getLength(); i++) {
            String inc = includes.item(i).getTextContent().trim();
            if (inc.endsWith("/**")) needed.add(inc.substring(0, inc.length() - 2));
        }
        for (String n : needed) assertTrue(copied.contains(n), NATIVE + " does not copy " + n + " into the build stage");
        assertTrue(build.all("RUN").stream().anyMatch(r -> r.args().contains("-Pnative") && r.args().contains("package")), "builds with -Pnative");

        Dockerfile.Copy runner = Dockerfile.copies(native_.last()).stream().filter(c -> build.name().equals(c.from())).findFirst()
                .orElseThrow(() -> new AssertionError(NATIVE + " copies nothing from the build stage"));
        String source = runner.sources().get(0);
        assertTrue(source.startsWith(build.workdir() + "/target/"), source + " is not in the build stage's target/");
        String expected = pomValue("artifactId") + "-" + ((Element) pom.getDocumentElement()).getElementsByTagName("version").item(0).getTextContent().trim() + "-runner";
        String glob = source.substring(source.lastIndexOf('/') + 1);
        assertTrue(expected.matches(glob.replace(".", "\\.").replace("*", ".*")), glob + " does not match the native executable " + expected);
        assertEquals(runner.destination(), Dockerfile.parse(NATIVE).last().all("ENTRYPOINT").get(0).words().get(0), "the entry point is the executable");
    }

    @Test
    void composeRunsTheServiceAgainstItsBrokerWithTheBundledModel() throws Exception {
        Map<String, Object> compose = Repo.yaml("docker/compose.yaml");
        Map<String, Object> services = Repo.map(compose, "services");
        Map<String, Object> moeflow = Repo.map(services, "moeflow");
        Map<String, Object> kafka = Repo.map(services, "kafka");

        Map<String, String> env = new LinkedHashMap<>();
        Repo.map(moeflow, "environment").forEach((k, v) -> env.put(k, String.valueOf(v).replace("${MOEFLOW_API_KEY:-}", "")));
        assertEquals(List.of(), List.copyOf(AppConfig.unknownVariables(env.keySet())), "compose: variables that configure nothing");
        var config = AppConfig.effective(env);
        MoeflowConfig m = config.getConfigMapping(MoeflowConfig.class);

        int httpPort = config.getValue("quarkus.http.port", Integer.class);
        assertTrue(Repo.list(moeflow, "ports").stream().anyMatch(p -> String.valueOf(p).endsWith(":" + httpPort)), "compose publishes the HTTP port");

        // The bootstrap address is the broker service's advertised PLAINTEXT listener.
        String bootstrap = m.kafka().bootstrapServers().orElseThrow();
        assertTrue(services.containsKey(bootstrap.substring(0, bootstrap.indexOf(':'))), bootstrap + " is not a compose service");
        assertTrue(String.valueOf(Repo.map(kafka, "environment").get("KAFKA_ADVERTISED_LISTENERS")).contains("PLAINTEXT://" + bootstrap));
        assertEquals("false", String.valueOf(Repo.map(kafka, "environment").get("KAFKA_AUTO_CREATE_TOPICS_ENABLE")), "topics come from kafka-topics/");
        assertEquals("apache/kafka:" + kafkaVersion(), Repo.string(kafka, "image"), "the broker of the kafka-clients version in pom.xml");
        assertEquals("service_healthy", Repo.string(Repo.map(Repo.map(moeflow, "depends_on"), "kafka"), "condition"));

        // The model the service is pointed at is in the folder compose mounts.
        String mount = Repo.list(moeflow, "volumes").stream().map(String::valueOf).filter(v -> v.contains(":/models")).findFirst()
                .orElseThrow(() -> new AssertionError("compose mounts no /models volume"));
        String hostDir = mount.substring(0, mount.indexOf(':'));
        assertTrue(m.model().path().startsWith("/models/"));
        assertTrue(Files.isRegularFile(Repo.path("docker").resolve(hostDir).resolve(m.model().path().substring("/models/".length())).normalize()),
                "compose's MOEFLOW_MODEL_PATH " + m.model().path() + " is not in " + hostDir);

        Map<String, Object> build = Repo.map(moeflow, "build");
        assertTrue(Files.isRegularFile(Repo.path("docker").resolve(Repo.string(build, "context")).resolve(Repo.string(build, "dockerfile")).normalize()));
        Duration stop = Duration.parse("PT" + Repo.string(moeflow, "stop_grace_period").toUpperCase());
        assertTrue(stop.compareTo(m.shutdown().grace().plusSeconds(10)) >= 0, "stop_grace_period " + stop + " vs moeflow.shutdown.grace " + m.shutdown().grace());
    }
}
