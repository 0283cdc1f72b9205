package io.moeflow.api.chat.reply;

import io.moeflow.scheduler.TokenEvent;
import java.util.Map;

/**
 * How one chat request's generated tokens become its reply: the text each token adds (with the control tokens of
 * the family's tool-call syntax written out, as llama-server renders its "preserved tokens", since a control token
 * otherwise adds no text) and the parser of that text.
 */
public final class ChatReply {
    private final ReplyParser parser;
    private final Map<Integer, String> markerTokens;

    /** {@code markerTokens}: control token id → its text, for the tokens of the format's markers. */
    public ChatReply(ReplyParser parser, Map<Integer, String> markerTokens) {
        this.parser = parser;
        this.markerTokens = Map.copyOf(markerTokens);
    }

    /** The text {@code event} adds to the generation, marker control tokens included. */
    public String text(TokenEvent event) {
        String text = event.text() == null ? "" : event.text();
        String marker = event.token() >= 0 ? markerTokens.get(event.token()) : null;
        return marker == null ? text : text + marker;
    }

    public AssistantReply parse(String text) {
        return parser.parse(text, false);
    }

    public ReplyStream stream() {
        return new ReplyStream(parser);
    }

    public ReplyParser parser() {
        return parser;
    }

    /** The reader of choice {@code index} of an n-choice request (choice 0 is this one): its own call ids. */
    public ChatReply forChoice(int index) {
        if (index == 0) return this;
        ReplyParser.Settings s = parser.settings();
        return new ChatReply(new ReplyParser(new ReplyParser.Settings(s.format(), s.think(), s.thinkingOpen(), s.extractReasoning(),
                s.parseTools(), s.parallelToolCalls(), s.toolParameters(), s.idSeed() + "." + index)), markerTokens);
    }
}
