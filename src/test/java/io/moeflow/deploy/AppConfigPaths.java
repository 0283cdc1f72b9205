package io.moeflow.deploy;

import io.smallrye.config.SmallRyeConfig;
import java.util.Map;

/** The health and metrics endpoints' paths as the application's configuration makes them (Quarkus defaults unless overridden). */
final class AppConfigPaths {
    private AppConfigPaths() {}

    private static String health(SmallRyeConfig c) {
        return "/" + c.getOptionalValue("quarkus.http.non-application-root-path", String.class).orElse("q")
                + "/" + c.getOptionalValue("quarkus.smallrye-health.root-path", String.class).orElse("health");
    }

    static String liveness(SmallRyeConfig c) {
        return health(c) + "/" + c.getOptionalValue("quarkus.smallrye-health.liveness-path", String.class).orElse("live");
    }

    static String readiness(SmallRyeConfig c) {
        return health(c) + "/" + c.getOptionalValue("quarkus.smallrye-health.readiness-path", String.class).orElse("ready");
    }

    /** Where Prometheus scrapes: the Micrometer Prometheus endpoint, relative to the non-application root unless absolute. */
    static String metrics(SmallRyeConfig c) {
        String path = c.getOptionalValue("quarkus.micrometer.export.prometheus.path", String.class).orElse("metrics");
        if (path.startsWith("/")) return path;
        return "/" + c.getOptionalValue("quarkus.http.non-application-root-path", String.class).orElse("q") + "/" + path;
    }

    static String readiness() {
        return readiness(AppConfig.effective(Map.of()));
    }
}
