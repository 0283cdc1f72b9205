package io.moeflow.api.testing;

import io.moeflow.testing.TinySynthMoe;
import io.quarkus.test.junit.QuarkusTestProfile;
import java.util.Map;

/**
 * The service on the tiny synthetic MoE ({@link TinySynthMoe}) with its experts in a budgeted store of 25%
 * (policy lru, 2 I/O threads): the test classes that use it share one application.
 */
public class BudgetedMoeProfile implements QuarkusTestProfile {
    @Override
    public Map<String, String> getConfigOverrides() {
        return Map.of("moeflow.model.path", TinySynthMoe.path().toString(),
                "moeflow.experts.cache", "25%",
                "moeflow.experts.policy", "lru",
                "moeflow.experts.io-threads", "2",
                // a free port: other test JVMs on the machine may hold the default 8081
                "quarkus.http.test-port", "0");
    }
}
