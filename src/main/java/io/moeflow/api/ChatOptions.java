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
 * that say how the reply is read: {@code tool_choice} ("auto", "none", "required" or a named function), {@code parallel_tool_calls} (default
 * true) and {@code reasoning_format} ("auto": reasoning to reasoning_content; "none": kept inline). Read-only.
 */
public record ChatOptions(ArrayNode tools, ObjectNode templateKwargs, boolean addGenerationPrompt, ToolChoice toolChoice,
                          boolean parallelToolCalls, boolean reasoningInline, String forcedFunction) {
    public static final ChatOptions DEFAULT = new ChatOptions(JsonNodeFactory.instance.arrayNode(),
            JsonNodeFactory.instance.objectNode(), true);

    /**
     * tool_choice: the model decides (auto), calls are not parsed (none), or the answer is forced to be a call of one
     * of the tools (required) or of {@code forcedFunction} (a named function).
     */
    public enum ToolChoice { AUTO, NONE, REQUIRED, FUNCTION }

    public ChatOptions {
        tools = tools == null ? JsonNodeFactory.instance.arrayNode() : tools.deepCopy();
        templateKwargs = templateKwargs == null ? JsonNodeFactory.instance.objectNode() : templateKwargs.deepCopy();
        if (toolChoice == null) toolChoice = ToolChoice.AUTO;
        if ((toolChoice == ToolChoice.FUNCTION) != (forcedFunction != null)) {
            throw new IllegalArgumentException("a forced function goes with tool_choice FUNCTION only");
        }
    }

    /** The template fields only; the reply is read with the defaults. */
    public ChatOptions(ArrayNode tools, ObjectNode templateKwargs, boolean addGenerationPrompt) {
        this(tools, templateKwargs, addGenerationPrompt, ToolChoice.AUTO, true, false, null);
    }

    /** Whether the answer must be a tool call (tool_choice "required" or a named function). */
    public boolean forcesCall() {
        return toolChoice == ToolChoice.REQUIRED || toolChoice == ToolChoice.FUNCTION;
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
