package io.moeflow.api.http;

import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.moeflow.api.RequestParser;
import io.moeflow.engine.TokenLogprobs;
import io.moeflow.scheduler.TokenEvent;
import io.moeflow.tokenizer.Tokenizer;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;

/**
 * The {@code logprobs} object of one choice, built from its events in order: chat's
 * {@code {"content": [{token, logprob, bytes, top_logprobs: [{token, logprob, bytes}]}], "refusal": null}} or the
 * completions endpoint's legacy {@code {tokens, token_logprobs, top_logprobs: [{token: logprob}], text_offset}} (its
 * top_logprobs hold the sampled token too, so up to logprobs + 1 entries, as OpenAI documents). A token's text is its
 * piece decoded as UTF-8 (an incomplete sequence shows U+FFFD; {@code bytes} are exact); text_offset counts code
 * points of the choice's text before the token. A log-probability of -infinity is written -9999.0, as vLLM does.
 * Streams {@link #take} what was added since the last chunk.
 */
final class LogprobsJson {
    static final double NEGATIVE_INFINITY_VALUE = -9999.0;

    private final boolean chat;
    private final Tokenizer tokenizer;
    private ObjectNode node;
    private int entries;
    private long textOffset;
    /** Where each entry of {@link #node} begins in the choice's text (code points). */
    private final List<Long> starts = new ArrayList<>();

    LogprobsJson(boolean chat, Tokenizer tokenizer) {
        this.chat = chat;
        this.tokenizer = tokenizer;
        reset();
    }

    /** Adds the event's token (when it has log-probabilities) and moves the text offset past its text. */
    void add(TokenEvent e) {
        TokenLogprobs lp = e.logprobs();
        if (lp != null) {
            entries++;
            if (chat) {
                ObjectNode entry = ((ArrayNode) node.get("content")).addObject();
                token(entry, lp.token(), lp.logprob());
                ArrayNode top = entry.putArray("top_logprobs");
                for (int i = 0; i < lp.topTokens().length; i++) token(top.addObject(), lp.topTokens()[i], lp.topLogprobs()[i]);
            } else {
                ((ArrayNode) node.get("tokens")).add(text(lp.token()));
                ((ArrayNode) node.get("token_logprobs")).add(value(lp.logprob()));
                ObjectNode top = ((ArrayNode) node.get("top_logprobs")).addObject();
                for (int i = 0; i < lp.topTokens().length; i++) top.put(text(lp.topTokens()[i]), value(lp.topLogprobs()[i]));
                top.put(text(lp.token()), value(lp.logprob())); // a text two tokens share keeps the sampled one's value
                ((ArrayNode) node.get("text_offset")).add(textOffset);
            }
        }
        if (lp != null) starts.add(textOffset);
        if (e.text() != null) textOffset += e.text().codePointCount(0, e.text().length());
        if (e.last()) dropPastText();
    }

    /**
     * Drops the entries of tokens none of whose text reached the answer: the tokens of a matched stop string (as
     * llama-server and OpenAI leave them out), whose text was held back and never sent.
     */
    private void dropPastText() {
        while (!starts.isEmpty() && starts.getLast() >= textOffset) {
            starts.removeLast();
            entries--;
            if (chat) {
                ((ArrayNode) node.get("content")).remove(entries);
            } else {
                for (String key : new String[] {"tokens", "token_logprobs", "top_logprobs", "text_offset"}) {
                    ((ArrayNode) node.get(key)).remove(entries);
                }
            }
        }
    }

    boolean isEmpty() {
        return entries == 0;
    }

    /** The object of everything added since the last take (or since the start). */
    ObjectNode take() {
        ObjectNode out = node;
        reset();
        return out;
    }

    private void reset() {
        node = RequestParser.JSON.createObjectNode();
        entries = 0;
        starts.clear();
        if (chat) {
            node.putArray("content");
            node.putNull("refusal");
        } else {
            node.putArray("tokens");
            node.putArray("token_logprobs");
            node.putArray("top_logprobs");
            node.putArray("text_offset");
        }
    }

    private void token(ObjectNode entry, int token, double logprob) {
        byte[] bytes = tokenizer.pieceBytes(token);
        entry.put("token", new String(bytes, StandardCharsets.UTF_8));
        entry.put("logprob", value(logprob));
        ArrayNode b = entry.putArray("bytes");
        for (byte x : bytes) b.add(x & 0xff);
    }

    private String text(int token) {
        return new String(tokenizer.pieceBytes(token), StandardCharsets.UTF_8);
    }

    private static double value(double logprob) {
        return logprob == Double.NEGATIVE_INFINITY ? NEGATIVE_INFINITY_VALUE : logprob;
    }
}
