package io.moeflow.api.kafka;

import com.fasterxml.jackson.databind.node.ObjectNode;
import io.moeflow.api.GenerationService;
import io.moeflow.api.chat.reply.ChatReply;
import io.moeflow.scheduler.TokenEvent;

/**
 * A Kafka chat prompt's reply reader: the HTTP chat answer's {@link ChatReply} (same parser, same marker tokens),
 * whose reading of the whole generation goes into the last token event ({@link TokenEventJson#replyFields}).
 */
record ChatReplyReader(ChatReply reply) implements GenerationService.ReplyReader {
    @Override
    public String text(TokenEvent event) {
        return reply.text(event);
    }

    @Override
    public ObjectNode fields(String text, TokenEvent last) {
        return TokenEventJson.replyFields(reply.parse(text), last.finish());
    }
}
