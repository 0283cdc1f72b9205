package io.moeflow.api.chat.reply;

import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.moeflow.api.ChatMessage;
import java.util.List;

/**
 * What an assistant's generated text says once parsed: its reasoning (empty when none), its content (the answer
 * text) and the function calls it made. {@code arguments} of each call is compact JSON text.
 */
public record AssistantReply(String reasoning, String content, List<ChatMessage.ToolCall> toolCalls) {
    public static final AssistantReply EMPTY = new AssistantReply("", "", List.of());
    /** OpenAI's finish_reason of an answer that ends with tool calls. */
    public static final String TOOL_CALLS = "tool_calls";

    public AssistantReply {
        toolCalls = List.copyOf(toolCalls);
    }

    /**
     * Writes the fields of OpenAI's assistant message into {@code message} (the HTTP answer's choices[].message, a
     * Kafka chat prompt's last token event): content (null when the answer is only tool calls, as OpenAI sends it),
     * reasoning_content when there was reasoning, tool_calls when there were calls.
     */
    public void writeTo(ObjectNode message) {
        if (content.isEmpty() && !toolCalls.isEmpty()) message.putNull("content");
        else message.put("content", content);
        if (!reasoning.isEmpty()) message.put("reasoning_content", reasoning);
        if (!toolCalls.isEmpty()) {
            ArrayNode calls = message.putArray("tool_calls");
            for (ChatMessage.ToolCall call : toolCalls) {
                ObjectNode c = calls.addObject();
                c.put("id", call.id());
                c.put("type", "function");
                ObjectNode f = c.putObject("function");
                f.put("name", call.name());
                f.put("arguments", call.arguments());
            }
        }
    }

    /** The answer's finish_reason given the engine's ({@code wire}, e.g. "stop"): "tool_calls" when it stopped after calls. */
    public String finishReason(String wire) {
        return !toolCalls.isEmpty() && "stop".equals(wire) ? TOOL_CALLS : wire;
    }
}
