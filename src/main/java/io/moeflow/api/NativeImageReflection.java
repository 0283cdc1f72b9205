package io.moeflow.api;

import io.moeflow.api.chat.ChatTemplateRenderer;
import io.quarkus.runtime.annotations.RegisterForReflection;

/**
 * What a native image must keep for reflection that Quarkus does not infer (the JVM build ignores this class).
 * JSON is written and read as Jackson trees (ObjectNode), never data-bound to records, so no payload class needs
 * registering. Chat templates are the exception: Jinjava looks up the functions registered with
 * ELFunctionDefinition by name, and its expression language calls getters and methods reflectively on the objects
 * a template touches (loop.index, message['content'].strip(), namespace(...), the Py* collection wrappers).
 */
@RegisterForReflection(targets = {
        ChatTemplateRenderer.class,
        com.hubspot.jinjava.util.ForLoop.class,
        com.hubspot.jinjava.objects.collections.PyList.class,
        com.hubspot.jinjava.objects.collections.PyMap.class,
        com.hubspot.jinjava.objects.collections.SizeLimitingPyList.class,
        com.hubspot.jinjava.objects.collections.SizeLimitingPyMap.class,
        com.hubspot.jinjava.objects.SafeString.class,
        com.hubspot.jinjava.objects.Namespace.class,
        String.class,
})
public final class NativeImageReflection {
    private NativeImageReflection() {}
}
