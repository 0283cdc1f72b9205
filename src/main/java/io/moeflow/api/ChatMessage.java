package io.moeflow.api;

import java.util.List;

/**
 * One chat message after parsing, the fields llama-server passes to a chat template: {@code role};
 * {@code content} (never null: "" when absent); {@code contentParts}, the texts when the client sent text parts
 * (null when it sent a string), which a template that only takes strings sees joined with "\n"; and, when
 * given, {@code reasoningContent}, {@code name}, {@code toolCallId} and {@code toolCalls}.
 */
public record ChatMessage(String role, String content, List<String> contentParts, String reasoningContent, String name,
                          String toolCallId, List<ToolCall> toolCalls) {
    /** An assistant's call of a function; {@code arguments} is JSON text as the client sent it (or its compact form). */
    public record ToolCall(String id, String name, String arguments) {}

    public ChatMessage {
        contentParts = contentParts == null ? null : List.copyOf(contentParts);
        toolCalls = toolCalls == null ? List.of() : List.copyOf(toolCalls);
        if (content == null) content = contentParts == null ? "" : joinParts(contentParts);
    }

    /** llama.cpp's concat_content_parts: "\n" between parts, but none before the first non-empty text. */
    private static String joinParts(List<String> parts) {
        StringBuilder text = new StringBuilder();
        for (String p : parts) {
            if (!text.isEmpty()) text.append('\n');
            text.append(p);
        }
        return text.toString();
    }

    /** A plain message: role and text. */
    public ChatMessage(String role, String content) {
        this(role, content, null, null, null, null, List.of());
    }

    /** No text, no reasoning and no tool calls. */
    public boolean isEmpty() {
        return content.isEmpty() && toolCalls.isEmpty() && (reasoningContent == null || reasoningContent.isEmpty());
    }

    /** Characters the message holds (content, reasoning and tool-call arguments), for the prompt size limit. */
    public long chars() {
        long n = content.length() + (reasoningContent == null ? 0 : reasoningContent.length());
        for (ToolCall c : toolCalls) n += c.name().length() + c.arguments().length();
        return n;
    }
}
