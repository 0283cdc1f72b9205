package io.moeflow.deploy;

import io.moeflow.api.MoeflowConfig;
import io.quarkus.runtime.configuration.DurationConverter;
import io.smallrye.config.ConfigMappings;
import io.smallrye.config.EnvConfigSource;
import io.smallrye.config.PropertiesConfigSource;
import io.smallrye.config.SmallRyeConfig;
import io.smallrye.config.SmallRyeConfigBuilder;
import java.io.IOException;
import java.io.StringReader;
import java.io.UncheckedIOException;
import java.time.Duration;
import java.util.Locale;
import java.util.Map;
import java.util.Properties;
import java.util.Set;
import java.util.TreeSet;

/**
 * The application's own configuration, as the deployment files must match it: the property names of
 * {@link MoeflowConfig} (read from the mapping itself, so renaming a method renames the property) and of
 * application.properties, and the configuration the service would run with under a given environment.
 */
final class AppConfig {
    /** Variables of the JVM and the shell, not configuration properties. */
    static final Set<String> JVM_VARIABLES = Set.of("JDK_JAVA_OPTIONS", "JAVA_TOOL_OPTIONS", "JAVA_HOME", "PATH");

    private AppConfig() {}

    static Properties applicationProperties() {
        Properties p = new Properties();
        try {
            p.load(new StringReader(Repo.read("src/main/resources/application.properties")));
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        return p;
    }

    /** Every property name the service reads: the moeflow.* mapping and the keys of application.properties. */
    static Set<String> propertyNames() {
        Set<String> names = new TreeSet<>(ConfigMappings.getProperties(
                ConfigMappings.ConfigClass.configClass(MoeflowConfig.class, "moeflow")).keySet());
        for (String key : applicationProperties().stringPropertyNames()) {
            names.add(key.startsWith("%") ? key.substring(key.indexOf('.') + 1) : key);
        }
        return names;
    }

    /** The environment variable SmallRye Config reads for a property: non-alphanumerics become '_', upper case. */
    static String envName(String property) {
        return property.replaceAll("[^A-Za-z0-9]", "_").toUpperCase(Locale.ROOT);
    }

    /** The property an environment variable sets, or null when it sets none. */
    static String propertyOf(String envVar) {
        for (String name : propertyNames()) {
            if (envName(name).equals(envVar)) return name;
        }
        return null;
    }

    /** Checks that every variable configures the service (or the JVM); returns the offenders with a reason. */
    static Set<String> unknownVariables(Iterable<String> envVars) {
        Set<String> unknown = new TreeSet<>();
        for (String v : envVars) {
            if (!JVM_VARIABLES.contains(v) && propertyOf(v) == null) unknown.add(v);
        }
        return unknown;
    }

    /**
     * The configuration of the packaged service (prod profile) with {@code env} as its environment. Building the
     * mapping checks every value's type (a Duration that does not parse, a number that is not one).
     */
    static SmallRyeConfig effective(Map<String, String> env) {
        Map<String, String> props = new java.util.HashMap<>();
        applicationProperties().forEach((k, v) -> props.put((String) k, (String) v));
        return new SmallRyeConfigBuilder()
                .withProfile("prod")
                .addDefaultInterceptors()
                .withSources(new PropertiesConfigSource(props, "application.properties", 250))
                .withSources(new EnvConfigSource(env, 300))
                // Quarkus's converter, so "30s" reads as the service reads it (plain SmallRye wants ISO-8601).
                .withConverter(Duration.class, 200, new DurationConverter())
                .withMapping(MoeflowConfig.class)
                .build();
    }

    static MoeflowConfig mapping(Map<String, String> env) {
        return effective(env).getConfigMapping(MoeflowConfig.class);
    }
}
