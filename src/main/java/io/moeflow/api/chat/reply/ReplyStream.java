package io.moeflow.api.chat.reply;

import io.moeflow.api.ChatMessage;
import java.util.ArrayList;
import java.util.List;

/**
 * The streamed form of a reply: fed the generated text piece by piece, it parses what has come so far (partially)
 * and returns what is new since the last time: reasoning text, content text, and each call once it is complete, as
 * a first delta with its index, id and name and a second with its arguments (OpenAI's delta.tool_calls). The deltas
 * of a whole generation add up to {@link ReplyParser#parse(String, boolean) parse(text, false)}. One per request,
 * not thread-safe.
 */
public final class ReplyStream {
    /** One piece of a streamed reply; exactly one of its kinds. */
    public record Delta(Kind kind, String text, int callIndex, ChatMessage.ToolCall call) {
        public enum Kind { REASONING, CONTENT, CALL_START, CALL_ARGUMENTS }
    }

    private final ReplyParser parser;
    private final StringBuilder text = new StringBuilder();
    private int reasoningSent;
    private int contentSent;
    private int callsSent;
    private String reasoning = "";
    private String content = "";

    public ReplyStream(ReplyParser parser) {
        this.parser = parser;
    }

    /** Adds generated text; returns the deltas it makes visible. */
    public List<Delta> push(String piece) {
        if (piece == null || piece.isEmpty()) return List.of();
        text.append(piece);
        if (!parser.settings().parses()) { // the text is the content: no need to parse it again and again
            content = "";
            contentSent += piece.length();
            return List.of(new Delta(Delta.Kind.CONTENT, piece, -1, null));
        }
        return diff(parser.parse(text.toString(), true));
    }

    /** The generation ended: the deltas of what was held back. */
    public List<Delta> finish() {
        if (!parser.settings().parses()) return List.of();
        return diff(parser.parse(text.toString(), false));
    }

    /** All the text pushed so far. */
    public String text() {
        return text.toString();
    }

    private List<Delta> diff(AssistantReply reply) {
        List<Delta> out = new ArrayList<>(2);
        // A parse is never expected to take back what an earlier one gave (see ReplyParser); if it did, the text
        // already sent stands and only what extends it is sent.
        if (reply.reasoning().length() > reasoningSent && reply.reasoning().startsWith(reasoning)) {
            out.add(new Delta(Delta.Kind.REASONING, reply.reasoning().substring(reasoningSent), -1, null));
            reasoning = reply.reasoning();
            reasoningSent = reasoning.length();
        }
        if (reply.content().length() > contentSent && reply.content().startsWith(content)) {
            out.add(new Delta(Delta.Kind.CONTENT, reply.content().substring(contentSent), -1, null));
            content = reply.content();
            contentSent = content.length();
        }
        for (; callsSent < reply.toolCalls().size(); callsSent++) {
            ChatMessage.ToolCall call = reply.toolCalls().get(callsSent);
            out.add(new Delta(Delta.Kind.CALL_START, null, callsSent, call));
            out.add(new Delta(Delta.Kind.CALL_ARGUMENTS, call.arguments(), callsSent, call));
        }
        return out;
    }
}
