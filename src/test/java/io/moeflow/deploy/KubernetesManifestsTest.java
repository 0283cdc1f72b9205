package io.moeflow.deploy;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.moeflow.api.GgufModelRuntime;
import io.moeflow.api.MoeflowConfig;
import io.moeflow.experts.ExpertCacheBudget;
import io.moeflow.experts.ExpertStoreConfig;
import io.smallrye.config.SmallRyeConfig;
import java.math.BigDecimal;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * k8s/: every manifest parses, and each overlay, rendered as kustomize would, agrees with the application: the
 * environment variables are real config properties with values of the right type, ports, probe and metrics
 * paths, topic, consumer group and cluster agree between the Deployment, Service, NetworkPolicy, KEDA ScaledObject,
 * kafka-topics/ and the service's configuration, and the resources follow the documented sizing formula.
 */
class KubernetesManifestsTest {
    static Stream<String> kustomizations() {
        return Stream.of("k8s/base", "k8s/overlays/dev", "k8s/overlays/prod");
    }

    /** A rendered kustomization and the service's configuration under its Deployment's environment. */
    private record Rendered(String dir, List<Map<String, Object>> resources, Map<String, Object> deployment,
                            Map<String, Object> container, Map<String, String> env, SmallRyeConfig config,
                            MoeflowConfig moeflow) {
        String namespace() {
            return Repo.string(Repo.map(deployment, "metadata"), "namespace");
        }
    }

    private static Rendered render(String dir) {
        List<Map<String, Object>> resources = Kustomize.render(dir);
        Map<String, Object> deployment = Kustomize.require(resources, "Deployment", "moeflow");
        Map<String, Object> container = container(deployment, "moeflow");
        Map<String, String> env = environment(resources, container, dir);
        SmallRyeConfig config = AppConfig.effective(env);
        return new Rendered(dir, resources, deployment, container, env, config, config.getConfigMapping(MoeflowConfig.class));
    }

    private static Map<String, Object> podSpec(Map<String, Object> workload) {
        return Repo.map(Repo.map(Repo.map(workload, "spec"), "template"), "spec");
    }

    private static Map<String, Object> container(Map<String, Object> workload, String name) {
        for (Object c : Repo.list(podSpec(workload), "containers")) if (name.equals(Repo.string(c, "name"))) return Repo.asMap(c);
        throw new AssertionError("no container " + name);
    }

    /** The container's environment: its ConfigMaps (envFrom) then its own env entries; secrets as placeholders. */
    private static Map<String, String> environment(List<Map<String, Object>> resources, Map<String, Object> container, String where) {
        Map<String, String> env = new LinkedHashMap<>();
        for (Object from : Repo.list(container, "envFrom")) {
            String cm = Repo.string(Repo.map(from, "configMapRef"), "name");
            assertNotNull(cm, where + ": only configMapRef is used in envFrom");
            Repo.map(Kustomize.require(resources, "ConfigMap", cm), "data").forEach((k, v) -> env.put(k, String.valueOf(v)));
        }
        for (Object e : Repo.list(container, "env")) {
            String name = Repo.string(e, "name");
            Object secret = Repo.at(e, "valueFrom", "secretKeyRef");
            env.put(name, secret != null ? "secret-value" : Repo.string(e, "value"));
        }
        return env;
    }

    @Test
    void everyManifestParses() {
        int documents = 0;
        for (Path f : Repo.files("k8s")) {
            if (!f.toString().endsWith(".yaml")) continue;
            for (Map<String, Object> doc : Repo.yamlDocuments(f)) {
                assertNotNull(doc.get("apiVersion"), f + ": apiVersion");
                assertNotNull(doc.get("kind"), f + ": kind");
                documents++;
            }
        }
        assertTrue(documents >= 20, "parsed " + documents + " documents");
    }

    @ParameterizedTest
    @MethodSource("kustomizations")
    void environmentVariablesAreRealConfigPropertiesWithValidValues(String dir) {
        Rendered r = render(dir);
        List<Map<String, Object>> workloads = new ArrayList<>();
        workloads.add(r.deployment());
        Map<String, Object> job = Kustomize.find(r.resources(), "Job", "moeflow-topics");
        if (job != null) workloads.add(job);
        for (Map<String, Object> w : workloads) {
            for (Object c : Repo.list(podSpec(w), "containers")) {
                Map<String, String> env = environment(r.resources(), Repo.asMap(c), dir);
                assertEquals(List.of(), List.copyOf(AppConfig.unknownVariables(env.keySet())),
                        dir + ": variables that configure nothing in the service");
                // The whole mapping must build: every value converts to its property's type.
                AppConfig.mapping(env);
                String jvm = env.get("JDK_JAVA_OPTIONS");
                if (jvm != null) assertTrue(jvm.contains("--add-modules=jdk.incubator.vector"), dir + ": JDK_JAVA_OPTIONS drops the Vector API flag: " + jvm);
            }
        }
    }

    /** The pods listen beyond loopback (the Service routes to them), so they must carry the API key. */
    @ParameterizedTest
    @MethodSource("kustomizations")
    void theServiceListensOnThePodNetworkWithAnApiKey(String dir) {
        Rendered r = render(dir);
        String host = r.config().getValue("quarkus.http.host", String.class);
        assertFalse(io.moeflow.api.http.AccessControl.isLoopbackHost(host), dir + ": listens on " + host + ", unreachable through the Service");
        assertEquals(null, io.moeflow.api.http.AccessControl.exposureRefusal(host, r.moeflow().apiKey().isPresent(),
                r.moeflow().http().allowRemoteWithoutKey()), dir + ": the service would refuse to start");
        assertTrue(r.moeflow().apiKey().isPresent() && !r.moeflow().http().allowRemoteWithoutKey(), dir + ": no API key, or open without one");
    }

    @ParameterizedTest
    @MethodSource("kustomizations")
    void portsAndProbesPointAtTheServiceHttpPortAndHealthEndpoints(String dir) {
        Rendered r = render(dir);
        int httpPort = r.config().getValue("quarkus.http.port", Integer.class);
        Map<String, Integer> named = new LinkedHashMap<>();
        for (Object p : Repo.list(r.container(), "ports")) named.put(Repo.string(p, "name"), Integer.parseInt(Repo.string(p, "containerPort")));
        assertEquals(Map.of("http", httpPort), named, dir + ": the container's ports");

        String live = AppConfigPaths.liveness(r.config());
        String ready = AppConfigPaths.readiness(r.config());
        for (String probe : List.of("startupProbe", "livenessProbe", "readinessProbe")) {
            Map<String, Object> get = Repo.map(Repo.map(r.container(), probe), "httpGet");
            assertEquals(httpPort, resolvePort(Repo.string(get, "port"), named), dir + ": " + probe + " port");
            assertEquals(probe.equals("readinessProbe") ? ready : live, Repo.string(get, "path"), dir + ": " + probe + " path");
        }

        // Prometheus scrapes the metrics endpoint on the HTTP port.
        Map<String, Object> podAnnotations = Repo.map(Repo.map(Repo.map(Repo.map(r.deployment(), "spec"), "template"), "metadata"), "annotations");
        assertEquals("true", Repo.string(podAnnotations, "prometheus.io/scrape"), dir + ": prometheus.io/scrape");
        assertEquals(httpPort, resolvePort(Repo.string(podAnnotations, "prometheus.io/port"), named), dir + ": prometheus.io/port");
        assertEquals(AppConfigPaths.metrics(r.config()), Repo.string(podAnnotations, "prometheus.io/path"), dir + ": prometheus.io/path");

        Map<String, Object> service = Kustomize.require(r.resources(), "Service", "moeflow");
        for (Object p : Repo.list(Repo.map(service, "spec"), "ports")) {
            assertEquals(httpPort, resolvePort(Repo.string(p, "targetPort"), named), dir + ": Service targetPort");
        }
        Map<String, Object> policy = Kustomize.require(r.resources(), "NetworkPolicy", "moeflow");
        for (Object rule : Repo.list(Repo.map(policy, "spec"), "ingress")) {
            for (Object p : Repo.list(rule, "ports")) assertEquals(httpPort, resolvePort(Repo.string(p, "port"), named), dir + ": NetworkPolicy ingress port");
        }
        // Egress must reach the Kafka cluster the service is configured with.
        int kafkaPort = port(r.moeflow().kafka().bootstrapServers().orElseThrow());
        boolean kafkaAllowed = Repo.list(Repo.map(policy, "spec"), "egress").stream().anyMatch(rule ->
                Repo.list(rule, "ports").stream().anyMatch(p -> String.valueOf(kafkaPort).equals(Repo.string(p, "port"))));
        assertTrue(kafkaAllowed, dir + ": NetworkPolicy egress does not allow the Kafka port " + kafkaPort);
    }

    private static int resolvePort(String port, Map<String, Integer> named) {
        if (port.matches("\\d+")) return Integer.parseInt(port);
        Integer p = named.get(port);
        if (p == null) throw new AssertionError("port name " + port + " is not a container port " + named);
        return p;
    }

    private static int port(String bootstrap) {
        String first = bootstrap.split(",")[0];
        return Integer.parseInt(first.substring(first.lastIndexOf(':') + 1));
    }

    @ParameterizedTest
    @MethodSource("kustomizations")
    void kedaScalesOnThePromptsTopicTheServiceConsumesUpToItsPartitionCount(String dir) throws Exception {
        Rendered r = render(dir);
        Map<String, Object> scaled = Kustomize.require(r.resources(), "ScaledObject", "moeflow");
        Map<String, Object> spec = Repo.map(scaled, "spec");
        assertEquals(Repo.string(Repo.map(r.deployment(), "metadata"), "name"), Repo.string(Repo.map(spec, "scaleTargetRef"), "name"));
        List<Object> triggers = Repo.list(spec, "triggers");
        assertEquals(1, triggers.size(), dir + ": one trigger");
        assertEquals("kafka", Repo.string(triggers.get(0), "type"));
        Map<String, Object> meta = Repo.map(triggers.get(0), "metadata");

        MoeflowConfig m = r.moeflow();
        assertEquals(m.kafka().topics().prompts(), Repo.string(meta, "topic"), dir + ": the topic KEDA watches");
        assertEquals(m.kafka().groupId(), Repo.string(meta, "consumerGroup"), dir + ": the consumer group KEDA watches");
        assertEquals(m.kafka().bootstrapServers().orElseThrow(), Repo.string(meta, "bootstrapServers"), dir + ": the cluster KEDA watches");

        JsonNode prompts = topicDefinition("prompts");
        assertEquals(prompts.get("name").asText(), m.kafka().topics().prompts(), dir + ": kafka-topics/topics.json names the prompts topic differently");
        int partitions = prompts.get("partitions").asInt();
        int max = Integer.parseInt(Repo.string(spec, "maxReplicaCount"));
        int min = Integer.parseInt(Repo.string(spec, "minReplicaCount"));
        assertTrue(max <= partitions, dir + ": maxReplicaCount " + max + " exceeds the " + partitions + " partitions of " + prompts.get("name"));
        assertTrue(min >= 1 && min <= max, dir + ": minReplicaCount " + min);
        int lag = Integer.parseInt(Repo.string(meta, "lagThreshold"));
        int capacity = m.engine().maxSequences() + m.engine().maxQueued();
        assertTrue(lag >= 1 && lag <= capacity, dir + ": lagThreshold " + lag + " is more than one replica holds (" + capacity + ")");
    }

    /** The same names everywhere: the mapping's defaults, application.properties and kafka-topics/topics.json. */
    @Test
    void topicDefaultsAgreeBetweenTheMappingApplicationPropertiesAndTopicDefinitions() throws Exception {
        MoeflowConfig defaults = AppConfig.mapping(Map.of());
        var props = AppConfig.applicationProperties();
        Map<String, String> byRole = Map.of("prompts", defaults.kafka().topics().prompts(),
                "tokens", defaults.kafka().topics().tokens(), "dlq", defaults.kafka().topics().dlq());
        for (var e : byRole.entrySet()) {
            assertEquals(topicDefinition(e.getKey()).get("name").asText(), e.getValue(), "default name of the " + e.getKey() + " topic");
            assertEquals(e.getValue(), props.getProperty("moeflow.kafka.topics." + e.getKey()), "application.properties, " + e.getKey());
        }
        assertEquals("${moeflow.kafka.topics.prompts}", props.getProperty("mp.messaging.incoming.prompts.topic"));
        assertEquals("${moeflow.kafka.topics.tokens}", props.getProperty("mp.messaging.outgoing.tokens.topic"));
    }

    static JsonNode topicDefinition(String role) throws Exception {
        JsonNode root = new ObjectMapper().readTree(Repo.path("kafka-topics/topics.json").toFile());
        for (JsonNode t : root.get("topics")) if (t.get("role").asText().equals(role)) return t;
        throw new AssertionError("kafka-topics/topics.json has no topic with role " + role);
    }

    @ParameterizedTest
    @MethodSource("kustomizations")
    void terminationGraceCoversTheShutdownGraceAndTheFinalCommit(String dir) {
        Rendered r = render(dir);
        long terminationGrace = Long.parseLong(Repo.string(podSpec(r.deployment()), "terminationGracePeriodSeconds"));
        List<Object> preStop = Repo.list(Repo.map(Repo.map(Repo.map(r.container(), "lifecycle"), "preStop"), "exec"), "command");
        long preStopSleep = preStop.size() == 2 && "sleep".equals(preStop.get(0)) ? Long.parseLong(String.valueOf(preStop.get(1))) : 0;
        Duration grace = r.moeflow().shutdown().grace();
        // The throttled commit strategy waits up to one commit interval for unfinished records before committing.
        long commitInterval = r.config().getOptionalValue("mp.messaging.incoming.prompts.auto.commit.interval.ms", Long.class).orElse(5000L);
        long needed = preStopSleep + grace.toSeconds() + Math.ceilDiv(commitInterval, 1000) + 5;
        assertTrue(terminationGrace >= needed, dir + ": terminationGracePeriodSeconds " + terminationGrace + " < preStop " + preStopSleep
                + " s + moeflow.shutdown.grace " + grace.toSeconds() + " s + commit " + commitInterval + " ms + 5 s");
    }

    /** The sizing formula of k8s/base/deployment.yaml, recomputed from the annotations and the ConfigMap. */
    @ParameterizedTest
    @MethodSource("kustomizations")
    void resourcesFollowTheSizingFormula(String dir) {
        Rendered r = render(dir);
        Map<String, Object> annotations = Repo.map(Repo.map(r.deployment(), "metadata"), "annotations");
        long kv = r.moeflow().engine().kvCacheBytes();
        long heap = kv + bytes(Repo.string(annotations, "sizing.moeflow.io/heap-overhead"));
        long memory = heap + bytes(Repo.string(annotations, "sizing.moeflow.io/non-heap"))
                + bytes(Repo.string(annotations, "sizing.moeflow.io/model-dense"))
                + bytes(Repo.string(annotations, "sizing.moeflow.io/expert-cache"));
        Matcher xmx = Pattern.compile("-Xmx(\\d+)([kmgKMG]?)").matcher(r.env().get("JDK_JAVA_OPTIONS"));
        assertTrue(xmx.find(), dir + ": JDK_JAVA_OPTIONS sets no -Xmx");
        assertEquals(heap, Long.parseLong(xmx.group(1)) * switch (xmx.group(2).toLowerCase()) {
            case "k" -> 1L << 10; case "m" -> 1L << 20; case "g" -> 1L << 30; default -> 1L; }, dir + ": -Xmx = kv-cache-bytes + heap-overhead");
        Map<String, Object> resources = Repo.map(r.container(), "resources");
        for (String kind : List.of("requests", "limits")) {
            assertEquals(memory, bytes(Repo.string(Repo.map(resources, kind), "memory")), dir + ": " + kind + ".memory");
            assertEquals(new BigDecimal(r.moeflow().engine().threads()), cpu(Repo.string(Repo.map(resources, kind), "cpu")),
                    dir + ": " + kind + ".cpu = MOEFLOW_ENGINE_THREADS");
        }
    }

    /**
     * The experts settings parse as the service parses them, and a budget in bytes is the expert-cache of the
     * sizing formula (the off-heap cache is exactly that big); a share of the model cannot be checked here.
     */
    @ParameterizedTest
    @MethodSource("kustomizations")
    void theExpertCacheBudgetIsTheSizedExpertCache(String dir) {
        Rendered r = render(dir);
        ExpertStoreConfig experts = GgufModelRuntime.expertStoreConfig(r.moeflow().experts());
        if (experts.mode() != ExpertStoreConfig.Mode.BUDGETED || experts.budget().endsWith("%")) return;
        String sized = Repo.string(Repo.map(Repo.map(r.deployment(), "metadata"), "annotations"), "sizing.moeflow.io/expert-cache");
        assertEquals(bytes(sized), ExpertCacheBudget.parse(experts.budget(), 1),
                dir + ": MOEFLOW_EXPERTS_CACHE " + experts.budget() + " vs sizing.moeflow.io/expert-cache " + sized);
    }

    /** The base ConfigMap shows every moeflow.experts.* variable (set, or commented with its default). */
    @Test
    void theBaseConfigMapShowsEveryExpertsSetting() {
        String configMap = Repo.read("k8s/base/configmap.yaml");
        List<String> missing = AppConfig.propertyNames().stream()
                .filter(p -> p.startsWith("moeflow.experts.") && !p.equals("moeflow.experts.mode"))
                .map(AppConfig::envName).filter(v -> !configMap.contains(v + ":")).toList();
        assertEquals(List.of(), missing, "k8s/base/configmap.yaml does not show these experts settings");
    }

    private static long bytes(String quantity) {
        assertNotNull(quantity, "a sizing quantity is missing");
        Matcher m = Pattern.compile("(\\d+)(Ki|Mi|Gi|Ti)?").matcher(quantity);
        if (!m.matches()) throw new AssertionError("not a binary quantity: " + quantity);
        long unit = m.group(2) == null ? 1 : switch (m.group(2)) { case "Ki" -> 1L << 10; case "Mi" -> 1L << 20; case "Gi" -> 1L << 30; default -> 1L << 40; };
        return Long.parseLong(m.group(1)) * unit;
    }

    private static BigDecimal cpu(String quantity) {
        return quantity.endsWith("m") ? new BigDecimal(quantity.substring(0, quantity.length() - 1)).movePointLeft(3) : new BigDecimal(quantity);
    }

    @ParameterizedTest
    @MethodSource("kustomizations")
    void theModelVolumeSelectorsAndUserAgree(String dir) {
        Rendered r = render(dir);
        // The model file lies on the model volume, mounted from the claim this kustomization defines.
        Map<String, String> mounts = new LinkedHashMap<>();
        for (Object m : Repo.list(r.container(), "volumeMounts")) mounts.put(Repo.string(m, "name"), Repo.string(m, "mountPath"));
        String modelMount = mounts.get("models");
        assertNotNull(modelMount, dir + ": no models volume mount");
        assertTrue(r.moeflow().model().path().startsWith(modelMount + "/"), dir + ": MOEFLOW_MODEL_PATH " + r.moeflow().model().path() + " is not under " + modelMount);
        String claim = null;
        for (Object v : Repo.list(podSpec(r.deployment()), "volumes")) {
            if ("models".equals(Repo.string(v, "name"))) claim = Repo.string(Repo.map(v, "persistentVolumeClaim"), "claimName");
        }
        Kustomize.require(r.resources(), "PersistentVolumeClaim", claim);
        assertTrue(Repo.read("k8s/load-model.sh").contains("claimName: " + claim), "k8s/load-model.sh fills another claim than " + claim);

        // Selectors of the Deployment, Service, PDB and NetworkPolicy all select the pods.
        Map<String, Object> podLabels = Repo.map(Repo.map(Repo.map(Repo.map(r.deployment(), "spec"), "template"), "metadata"), "labels");
        assertSelects(Repo.map(Repo.map(Repo.map(r.deployment(), "spec"), "selector"), "matchLabels"), podLabels, dir + " Deployment");
        assertSelects(Repo.map(Repo.map(Kustomize.require(r.resources(), "Service", "moeflow"), "spec"), "selector"), podLabels, dir + " Service");
        assertSelects(Repo.map(Repo.map(Repo.map(Kustomize.require(r.resources(), "PodDisruptionBudget", "moeflow"), "spec"), "selector"), "matchLabels"), podLabels, dir + " PDB");
        assertSelects(Repo.map(Repo.map(Repo.map(Kustomize.require(r.resources(), "NetworkPolicy", "moeflow"), "spec"), "podSelector"), "matchLabels"), podLabels, dir + " NetworkPolicy");

        // The pod runs as the non-root user the image creates.
        Map<String, Object> security = Repo.map(podSpec(r.deployment()), "securityContext");
        assertEquals(Boolean.TRUE, security.get("runAsNonRoot"));
        String imageUser = Dockerfile.parse("docker/Dockerfile.jvm").last().all("USER").get(0).args().split(":")[0];
        assertEquals(imageUser, Repo.string(security, "runAsUser"), dir + ": runAsUser differs from the USER of docker/Dockerfile.jvm");
    }

    private static void assertSelects(Map<String, Object> selector, Map<String, Object> labels, String what) {
        assertFalse(selector.isEmpty(), what + " selects everything");
        selector.forEach((k, v) -> assertEquals(v, labels.get(k), what + " selector " + k));
    }

    @ParameterizedTest
    @MethodSource("kustomizations")
    void theApiKeySecretExistsOrIsDocumented(String dir) {
        Rendered r = render(dir);
        for (Object e : Repo.list(r.container(), "env")) {
            Object ref = Repo.at(e, "valueFrom", "secretKeyRef");
            if (ref == null || Boolean.TRUE.equals(Repo.asMap(ref).get("optional"))) continue; // optional: may be absent
            String name = Repo.string(ref, "name");
            Map<String, Object> secret = Kustomize.find(r.resources(), "Secret", name);
            if (secret != null) {
                assertTrue(Repo.map(secret, "stringData").containsKey(Repo.string(ref, "key")), dir + ": secret " + name + " lacks key " + Repo.string(ref, "key"));
            } else {
                String create = "create secret generic " + name + " --from-literal=" + Repo.string(ref, "key") + "=";
                assertTrue(Repo.read("README.md").contains(create), dir + ": secret " + name + " is neither generated nor created in the README's Deploy section (" + create + ")");
            }
        }
    }

    /** A broker the overlay runs itself must be the one the service and KEDA are pointed at. */
    @Test
    void theDevelopmentBrokerIsTheOneEverybodyUses() {
        Rendered r = render("k8s/overlays/dev");
        String bootstrap = r.moeflow().kafka().bootstrapServers().orElseThrow();
        Map<String, Object> kafka = Kustomize.require(r.resources(), "Deployment", "kafka");
        Map<String, String> env = environment(r.resources(), container(kafka, "kafka"), "dev kafka");
        assertTrue(env.get("KAFKA_ADVERTISED_LISTENERS").contains("PLAINTEXT://" + bootstrap), "advertised listener vs " + bootstrap);
        // host = <service>.<namespace>.svc: resolvable from KEDA's namespace too
        String[] host = bootstrap.substring(0, bootstrap.lastIndexOf(':')).split("\\.");
        assertEquals(3, host.length, bootstrap);
        assertEquals("svc", host[2]);
        assertEquals(r.namespace(), host[1], "the broker's namespace in " + bootstrap);
        Map<String, Object> service = Kustomize.require(r.resources(), "Service", host[0]);
        assertTrue(Repo.list(Repo.map(service, "spec"), "ports").stream().anyMatch(p -> String.valueOf(port(bootstrap)).equals(Repo.string(p, "port"))));
        assertEquals("apache/kafka:" + DockerFilesTest.kafkaVersion(), Repo.string(container(kafka, "kafka"), "image"),
                "the dev broker runs the kafka-clients version of pom.xml");
    }
}
