package io.moeflow.deploy;

import static org.junit.jupiter.api.Assertions.assertEquals;

import io.moeflow.api.MoeflowConfig;
import io.smallrye.config.ConfigMappings;
import java.util.List;
import org.junit.jupiter.api.Test;

/** docs/CONFIGURATION.md lists every moeflow.* option of the mapping, so operators find what the manifests set. */
class ConfigurationDocsTest {
    @Test
    void everyOptionIsDocumented() {
        String docs = Repo.read("docs/CONFIGURATION.md");
        List<String> missing = ConfigMappings.getProperties(ConfigMappings.ConfigClass.configClass(MoeflowConfig.class, "moeflow"))
                .keySet().stream().map(p -> p.replace("[*]", "")) // a list option is documented under its name
                .filter(p -> !docs.contains("`" + p + "`")).sorted().toList();
        assertEquals(List.of(), missing, "options missing from docs/CONFIGURATION.md");
    }
}
