package io.moeflow.api;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.util.Map;

/**
 * The request fields besides the messages that reach a chat template, as llama-server passes them: {@code tools}
 * (each normalised to {type, function: {name, description, parameters}}), {@code chat_template_kwargs} (extra
 * template variables, such as enable_thinking) and {@code add_generation_prompt} (default true); and the fields
 * that say how the reply is read: {@code tool_choice} ("auto" or "none"), {@code parallel_tool_calls} (default
 * true) and {@code reasoning_format} ("auto": reasoning to reasoning_content; "none": kept inline). Read-only.
 */
public record ChatOptions(ArrayNode tools, ObjectNode templateKwargs, boolean addGenerationPrompt, ToolChoice toolChoice,
                          boolean parallelToolCalls, boolean reasoningInline) {
    public static final ChatOptions DEFAULT = new ChatOptions(JsonNodeFactory.instance.arrayNode(),
            JsonNodeFactory.instance.objectNode(), true);

    /** tool_choice: the model decides (auto), or calls are not parsed (none). */
    public enum ToolChoice { AUTO, NONE }

    public ChatOptions {
        tools = tools == null ? JsonNodeFactory.instance.arrayNode() : tools.deepCopy();
        templateKwargs = templateKwargs == null ? JsonNodeFactory.instance.objectNode() : templateKwargs.deepCopy();
        if (toolChoice == null) toolChoice = ToolChoice.AUTO;
    }

    /** The template fields only; the reply is read with the defaults. */
    public ChatOptions(ArrayNode tools, ObjectNode templateKwargs, boolean addGenerationPrompt) {
        this(tools, templateKwargs, addGenerationPrompt, ToolChoice.AUTO, true, false);
    }

    /** enable_thinking as llama-server sets it: true unless chat_template_kwargs.enable_thinking is false. */
    public boolean enableThinking() {
        JsonNode v = templateKwargs.get("enable_thinking");
        return v == null || !v.isBoolean() || v.booleanValue();
    }

    public Iterable<Map.Entry<String, JsonNode>> kwargs() {
        return templateKwargs.properties();
    }
}
