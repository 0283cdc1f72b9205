package io.moeflow.api.kafka;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.moeflow.api.RequestParser;
import java.nio.ByteBuffer;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;

/**
 * The value of a moeflow.prompts record (kafka-topics/schemas/prompt-request.schema.json), read far enough to
 * know its request id. Whatever fails here is unparseable (dead letter topic); bad field values are found later
 * and answered with an error event.
 */
public record PromptRecord(String id, ObjectNode body, int sizeBytes) {
    public static final int MAX_ID_LENGTH = 256;

    public static PromptRecord parse(byte[] value) {
        if (value == null) throw new UnparseableRecordException("record has no value");
        String text;
        try {
            text = StandardCharsets.UTF_8.newDecoder()
                    .onMalformedInput(CodingErrorAction.REPORT)
                    .onUnmappableCharacter(CodingErrorAction.REPORT)
                    .decode(ByteBuffer.wrap(value))
                    .toString();
        } catch (CharacterCodingException e) {
            throw new UnparseableRecordException("value is not valid UTF-8: " + e.getMessage());
        }
        JsonNode node;
        try {
            node = RequestParser.JSON.readTree(text);
        } catch (JsonProcessingException e) {
            throw new UnparseableRecordException("value is not valid JSON: " + e.getOriginalMessage());
        }
        if (node == null || node.isMissingNode()) throw new UnparseableRecordException("value is empty");
        if (!node.isObject()) throw new UnparseableRecordException("value must be a JSON object, got " + node.getNodeType());
        JsonNode id = node.get("id");
        if (id == null || id.isNull()) throw new UnparseableRecordException("\"id\" is missing");
        if (!id.isTextual() || id.textValue().isBlank()) throw new UnparseableRecordException("\"id\" must be a non-empty string");
        if (id.textValue().length() > MAX_ID_LENGTH) {
            throw new UnparseableRecordException("\"id\" is longer than " + MAX_ID_LENGTH + " characters");
        }
        return new PromptRecord(id.textValue(), (ObjectNode) node, value.length);
    }

    /** The default sampling seed of a record without one: stable across restarts, so a redelivery repeats itself. */
    public long defaultSeed() {
        long h = 1125899906842597L;
        for (int i = 0; i < id.length(); i++) h = 31 * h + id.charAt(i);
        return h;
    }
}
