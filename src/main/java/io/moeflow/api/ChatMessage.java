package io.moeflow.api;

/** One chat message after parsing: role and plain text content. */
public record ChatMessage(String role, String content) {}
