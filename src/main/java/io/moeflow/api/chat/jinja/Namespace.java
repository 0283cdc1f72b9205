package io.moeflow.api.chat.jinja;

import java.util.LinkedHashMap;
import java.util.Map;

/** jinja2's namespace(): an object whose attributes {@code {% set ns.x = ... %}} may change from any scope. */
final class Namespace {
    final Map<String, Object> attributes = new LinkedHashMap<>();
}
