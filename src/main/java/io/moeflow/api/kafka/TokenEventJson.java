package io.moeflow.api.kafka;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.moeflow.api.ChatMessage;
import io.moeflow.api.RequestParser;
import io.moeflow.api.chat.reply.AssistantReply;
import io.moeflow.engine.TokenLogprobs;
import io.moeflow.scheduler.FinishReason;
import io.moeflow.scheduler.TokenEvent;
import java.io.UncheckedIOException;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;

/**
 * The value of a moeflow.tokens record (kafka-topics/schemas/token-event.schema.json):
 * {@code {"id","index","text","token","finish_reason", "usage"?, "full_text"?, "error"?}}; finish_reason is always
 * present (null until the last event), usage, full_text (the whole generated text, so a batch consumer need not
 * reassemble it) and error only on the last event. The last event of a chat prompt (one with messages) also carries
 * its reply parsed as the HTTP chat answer's message is ({@link AssistantReply#writeTo}: content, reasoning_content,
 * tool_calls), and finish_reason "tool_calls" when it stopped after calls; per-token events stay the raw text.
 */
public final class TokenEventJson {
    private TokenEventJson() {}

    public static ObjectNode toJson(TokenEvent e) {
        return toJson(e, null);
    }

    /** With {@code fullText} (null: none) as "full_text", for a last event. */
    public static ObjectNode toJson(TokenEvent e, String fullText) {
        return toJson(e, fullText, null);
    }

    /** Like {@link #toJson(TokenEvent, String)}, with a chat reply's fields ({@link #replyFields}; null: none). */
    public static ObjectNode toJson(TokenEvent e, String fullText, ObjectNode replyFields) {
        ObjectNode node = RequestParser.JSON.createObjectNode();
        node.put("id", e.requestId());
        node.put("index", e.index());
        node.put("text", e.text() == null ? "" : e.text());
        node.put("token", e.token());
        if (e.finish() == null) {
            node.putNull("finish_reason");
        } else {
            node.put("finish_reason", e.finish().wire());
        }
        if (e.usage() != null) {
            ObjectNode usage = node.putObject("usage");
            usage.put("prompt_tokens", e.usage().promptTokens());
            usage.put("completion_tokens", e.usage().completionTokens());
        }
        if (fullText != null) node.put("full_text", fullText);
        if (e.logprobs() != null) {
            ObjectNode lp = node.putObject("logprobs");
            lp.put("logprob", wire(e.logprobs().logprob()));
            var top = lp.putArray("top_logprobs");
            for (int i = 0; i < e.logprobs().topTokens().length; i++) {
                top.addObject().put("token", e.logprobs().topTokens()[i]).put("logprob", wire(e.logprobs().topLogprobs()[i]));
            }
        }
        if (e.finish() == FinishReason.ERROR || e.errorMessage() != null) {
            ObjectNode error = node.putObject("error");
            error.put("code", e.errorCode() == null ? "error" : e.errorCode());
            error.put("message", e.errorMessage() == null ? "" : e.errorMessage());
        }
        if (replyFields != null) node.setAll(replyFields);
        return node;
    }

    /**
     * The fields a chat prompt's last event adds: its parsed {@code reply} as the HTTP answer's message writes it, and
     * finish_reason as the HTTP answer's ("tool_calls" when the generation stopped after calls).
     */
    public static ObjectNode replyFields(AssistantReply reply, FinishReason finish) {
        ObjectNode fields = RequestParser.JSON.createObjectNode();
        fields.put("finish_reason", reply.finishReason(finish.wire()));
        reply.writeTo(fields);
        return fields;
    }

    /** The parsed chat reply a last event carries (see {@link #replyFields}), or null when it has none. */
    public static AssistantReply reply(String json) {
        JsonNode node;
        try {
            node = RequestParser.JSON.readTree(json);
        } catch (JsonProcessingException e) {
            throw new IllegalArgumentException("token event is not JSON: " + e.getOriginalMessage());
        }
        if (node == null || !node.has("content")) return null;
        List<ChatMessage.ToolCall> calls = new ArrayList<>();
        for (JsonNode call : node.path("tool_calls")) {
            JsonNode f = call.path("function");
            calls.add(new ChatMessage.ToolCall(call.path("id").asText(), f.path("name").asText(), f.path("arguments").asText()));
        }
        return new AssistantReply(node.path("reasoning_content").asText(""), node.path("content").asText(""), calls);
    }

    public static String toString(TokenEvent e, String fullText, ObjectNode replyFields) {
        try {
            return RequestParser.JSON.writeValueAsString(toJson(e, fullText, replyFields));
        } catch (JsonProcessingException ex) {
            throw new UncheckedIOException(ex);
        }
    }

    public static String toString(TokenEvent e) {
        return toString(e, null);
    }

    public static String toString(TokenEvent e, String fullText) {
        return toString(e, fullText, null);
    }

    /** Parses a record written by {@link #toString}; throws IllegalArgumentException for anything else. */
    public static TokenEvent parse(String json) {
        JsonNode node;
        try {
            node = RequestParser.JSON.readTree(json);
        } catch (JsonProcessingException e) {
            throw new IllegalArgumentException("token event is not JSON: " + e.getOriginalMessage());
        }
        if (node == null || !node.isObject() || !node.path("id").isTextual() || !node.path("index").canConvertToInt()) {
            throw new IllegalArgumentException("not a token event: " + json);
        }
        JsonNode finish = node.get("finish_reason");
        // "tool_calls" is a chat reply's reading of the engine's "stop"
        FinishReason reason = finish == null || finish.isNull() ? null
                : AssistantReply.TOOL_CALLS.equals(finish.asText()) ? FinishReason.STOP
                : FinishReason.valueOf(finish.asText().toUpperCase(Locale.ROOT));
        JsonNode usage = node.get("usage");
        TokenEvent.Usage u = usage == null || usage.isNull() ? null
                : new TokenEvent.Usage(usage.path("prompt_tokens").asInt(), usage.path("completion_tokens").asInt());
        JsonNode error = node.get("error");
        return new TokenEvent(node.get("id").asText(), node.get("index").asInt(), node.path("token").asInt(-1),
                node.path("text").asText(""), reason, u,
                error == null ? null : error.path("code").asText(null),
                error == null ? null : error.path("message").asText(null),
                logprobs(node.path("token").asInt(-1), node.get("logprobs")));
    }

    /** -infinity has no JSON number: -9999.0, as vLLM writes it. */
    private static double wire(double logprob) {
        return logprob == Double.NEGATIVE_INFINITY ? -9999.0 : logprob;
    }

    private static TokenLogprobs logprobs(int token, JsonNode lp) {
        if (lp == null || !lp.isObject() || token < 0) return null;
        JsonNode top = lp.path("top_logprobs");
        int[] ids = new int[top.size()];
        double[] values = new double[top.size()];
        for (int i = 0; i < ids.length; i++) {
            ids[i] = top.get(i).path("token").asInt();
            values[i] = top.get(i).path("logprob").asDouble();
        }
        return new TokenLogprobs(token, lp.path("logprob").asDouble(), ids, values);
    }
}
