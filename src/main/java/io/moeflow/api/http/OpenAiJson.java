package io.moeflow.api.http;

import com.fasterxml.jackson.databind.node.ObjectNode;
import io.moeflow.api.RequestParser;
import io.moeflow.api.chat.reply.AssistantReply;
import io.moeflow.api.chat.reply.ReplyStream;
import io.moeflow.scheduler.TokenEvent;

/** The JSON shapes of OpenAI's completions and chat completions APIs (responses, stream chunks, errors). */
final class OpenAiJson {
    private OpenAiJson() {}

    static ObjectNode error(String message, String type, String param, String code) {
        ObjectNode root = RequestParser.JSON.createObjectNode();
        ObjectNode error = root.putObject("error");
        error.put("message", message);
        error.put("type", type);
        if (param == null) error.putNull("param"); else error.put("param", param);
        if (code == null) error.putNull("code"); else error.put("code", code);
        return root;
    }

    static ObjectNode envelope(String id, String object, long created, String model) {
        ObjectNode root = RequestParser.JSON.createObjectNode();
        root.put("id", id);
        root.put("object", object);
        root.put("created", created);
        root.put("model", model);
        return root;
    }

    static ObjectNode usage(TokenEvent.Usage usage) {
        ObjectNode node = RequestParser.JSON.createObjectNode();
        int prompt = usage == null ? 0 : usage.promptTokens();
        int completion = usage == null ? 0 : usage.completionTokens();
        node.put("prompt_tokens", prompt);
        node.put("completion_tokens", completion);
        node.put("total_tokens", prompt + completion);
        // OpenAI's field for prompt caching: the prompt tokens whose KV was reused (moeflow's prefix cache)
        node.putObject("prompt_tokens_details").put("cached_tokens", usage == null ? 0 : usage.cachedPromptTokens());
        return node;
    }

    /** A whole (non-streamed) answer. */
    static ObjectNode response(boolean chat, String id, long created, String model, String text, String finishReason,
                               TokenEvent.Usage usage) {
        ObjectNode root = envelope(id, chat ? "chat.completion" : "text_completion", created, model);
        ObjectNode choice = root.putArray("choices").addObject();
        choice.put("index", 0);
        if (chat) {
            ObjectNode message = choice.putObject("message");
            message.put("role", "assistant");
            message.put("content", text);
            // OpenAI always sends it, and the SDKs type it as string | null (not optional): absent reads as undefined.
            message.putNull("refusal");
        } else {
            choice.put("text", text);
        }
        choice.putNull("logprobs");
        choice.put("finish_reason", finishReason);
        root.set("usage", usage(usage));
        return root;
    }

    /**
     * A whole chat answer read by its reply parser: message.content (null when the answer is only tool calls, as
     * OpenAI sends it), reasoning_content when there was reasoning, tool_calls when there were calls.
     */
    static ObjectNode chatResponse(String id, long created, String model, AssistantReply reply, String finishReason,
                                   TokenEvent.Usage usage) {
        ObjectNode root = envelope(id, "chat.completion", created, model);
        ObjectNode choice = root.putArray("choices").addObject();
        choice.put("index", 0);
        ObjectNode message = choice.putObject("message");
        message.put("role", "assistant");
        reply.writeTo(message);
        message.putNull("refusal"); // as in response(): typed string | null, not optional
        choice.putNull("logprobs");
        choice.put("finish_reason", finishReason);
        root.set("usage", usage(usage));
        return root;
    }

    /** The delta of one piece of a streamed reply: reasoning_content, content, or one tool call's start or arguments. */
    static ObjectNode delta(ReplyStream.Delta d) {
        ObjectNode delta = RequestParser.JSON.createObjectNode();
        switch (d.kind()) {
            case REASONING -> delta.put("reasoning_content", d.text());
            case CONTENT -> delta.put("content", d.text());
            case CALL_START, CALL_ARGUMENTS -> {
                ObjectNode call = delta.putArray("tool_calls").addObject();
                call.put("index", d.callIndex());
                ObjectNode f;
                if (d.kind() == ReplyStream.Delta.Kind.CALL_START) {
                    call.put("id", d.call().id());
                    call.put("type", "function");
                    f = call.putObject("function");
                    f.put("name", d.call().name());
                    f.put("arguments", "");
                } else {
                    f = call.putObject("function");
                    f.put("arguments", d.text());
                }
            }
        }
        return delta;
    }

    /** A chat stream chunk with the given delta. */
    static ObjectNode deltaChunk(String id, long created, String model, ObjectNode delta, String finishReason,
                                 boolean withUsageField) {
        ObjectNode root = envelope(id, "chat.completion.chunk", created, model);
        ObjectNode choice = root.putArray("choices").addObject();
        choice.put("index", 0);
        choice.set("delta", delta);
        choice.putNull("logprobs");
        if (finishReason == null) choice.putNull("finish_reason"); else choice.put("finish_reason", finishReason);
        if (withUsageField) root.putNull("usage");
        return root;
    }

    /**
     * One stream chunk. {@code role} is set on the first chat chunk only; {@code finishReason} on the last;
     * {@code withUsageField} adds {@code "usage": null} as OpenAI does when stream_options.include_usage is on.
     */
    static ObjectNode chunk(boolean chat, String id, long created, String model, String role, String text,
                            String finishReason, boolean withUsageField) {
        ObjectNode root = envelope(id, chat ? "chat.completion.chunk" : "text_completion", created, model);
        ObjectNode choice = root.putArray("choices").addObject();
        choice.put("index", 0);
        if (chat) {
            ObjectNode delta = choice.putObject("delta");
            if (role != null) delta.put("role", role);
            if (text != null && (!text.isEmpty() || role != null)) delta.put("content", text);
        } else {
            choice.put("text", text == null ? "" : text);
        }
        choice.putNull("logprobs");
        if (finishReason == null) choice.putNull("finish_reason"); else choice.put("finish_reason", finishReason);
        if (withUsageField) root.putNull("usage");
        return root;
    }

    /** The extra last chunk of stream_options.include_usage: no choices, the usage. */
    static ObjectNode usageChunk(boolean chat, String id, long created, String model, TokenEvent.Usage usage) {
        ObjectNode root = envelope(id, chat ? "chat.completion.chunk" : "text_completion", created, model);
        root.putArray("choices");
        root.set("usage", usage(usage));
        return root;
    }
}
