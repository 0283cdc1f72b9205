package io.moeflow.api.testing;

import io.quarkus.test.junit.QuarkusTestProfile;
import java.util.Set;

/** A Quarkus test app whose model is {@link ScriptedModelRuntime}: tests choose the template and the generated tokens. */
public class ScriptedModelProfile implements QuarkusTestProfile {
    @Override
    public Set<Class<?>> getEnabledAlternatives() {
        return Set.of(ScriptedModelRuntime.class);
    }
}
