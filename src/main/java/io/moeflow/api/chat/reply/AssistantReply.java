package io.moeflow.api.chat.reply;

import io.moeflow.api.ChatMessage;
import java.util.List;

/**
 * What an assistant's generated text says once parsed: its reasoning (empty when none), its content (the answer
 * text) and the function calls it made. {@code arguments} of each call is compact JSON text.
 */
public record AssistantReply(String reasoning, String content, List<ChatMessage.ToolCall> toolCalls) {
    public static final AssistantReply EMPTY = new AssistantReply("", "", List.of());

    public AssistantReply {
        toolCalls = List.copyOf(toolCalls);
    }
}
