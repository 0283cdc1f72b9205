package io.moeflow.api;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.core.json.JsonReadFeature;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.json.JsonMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.util.ArrayList;
import io.moeflow.api.chat.ChatRequestReader;
import java.util.List;

/**
 * Reads the request fields shared by the Kafka prompt records and the OpenAI endpoints from a JSON tree, checking
 * each value's type and range and naming the field in every error. Unknown fields are ignored.
 */
public final class RequestParser {
    /**
     * Lenient about NaN/Infinity literals (Python's json.dumps writes them) so that they reach the range checks and
     * get a message naming the field, instead of a bare syntax error.
     */
    public static final JsonMapper JSON = JsonMapper.builder()
            .enable(JsonReadFeature.ALLOW_NON_NUMERIC_NUMBERS)
            .build();

    public static final float MAX_TEMPERATURE = 100f;

    private final int maxPromptChars;
    private final int maxStopStrings;

    public RequestParser(int maxPromptChars, int maxStopStrings) {
        this.maxPromptChars = maxPromptChars;
        this.maxStopStrings = maxStopStrings;
    }

    /** Parses a JSON object; a syntax error or a non-object becomes an InvalidRequestException. */
    public static ObjectNode parseObject(String json) {
        JsonNode node;
        try {
            node = JSON.readTree(json);
        } catch (JsonProcessingException e) {
            throw new InvalidRequestException(null, "request body is not valid JSON: " + e.getOriginalMessage());
        }
        if (node == null || !node.isObject()) {
            throw new InvalidRequestException(null, "request body must be a JSON object");
        }
        return (ObjectNode) node;
    }

    /** A completion: {@code prompt} (a string, or an array holding one string). */
    public PromptSpec completion(ObjectNode body) {
        return common(body, prompt(body), null, null);
    }

    /** A chat completion: {@code messages}, and the fields that reach the chat template (ChatRequestReader). */
    public PromptSpec chat(ObjectNode body) {
        return common(body, null, ChatRequestReader.messages(body.get("messages"), maxPromptChars), ChatRequestReader.options(body));
    }

    /** A Kafka prompt record: either {@code prompt} or {@code messages}. */
    public PromptSpec promptOrMessages(ObjectNode body) {
        boolean hasPrompt = present(body, "prompt");
        boolean hasMessages = present(body, "messages");
        if (hasPrompt && hasMessages) throw new InvalidRequestException("prompt", "give either \"prompt\" or \"messages\", not both");
        if (hasMessages) return chat(body);
        return completion(body);
    }

    private PromptSpec common(ObjectNode body, String prompt, List<ChatMessage> messages, ChatOptions chatOptions) {
        Integer n = intField(body, "n", 1, 1);
        if (n != null && n != 1) throw new InvalidRequestException("n", "only n=1 is supported");
        Integer maxTokens = intField(body, "max_tokens", 1, Integer.MAX_VALUE);
        if (maxTokens == null) maxTokens = intField(body, "max_completion_tokens", 1, Integer.MAX_VALUE);
        Float temperature = floatField(body, "temperature", 0f, MAX_TEMPERATURE, true);
        Float topP = floatField(body, "top_p", 0f, 1f, false);
        Integer topK = intField(body, "top_k", 0, Integer.MAX_VALUE);
        Float minP = floatField(body, "min_p", 0f, 1f, true);
        Long seed = longField(body, "seed");
        return new PromptSpec(prompt, messages, maxTokens, temperature, topP, topK, minP, seed, stop(body.get("stop")),
                booleanField(body, "ignore_eos"), chatOptions);
    }

    private String prompt(ObjectNode body) {
        JsonNode node = body.get("prompt");
        if (node == null || node.isNull()) throw new InvalidRequestException("prompt", "\"prompt\" is required");
        if (node.isArray()) {
            if (node.size() != 1 || !node.get(0).isTextual()) {
                throw new InvalidRequestException("prompt", "prompt must be a string or an array of exactly one string");
            }
            node = node.get(0);
        }
        if (!node.isTextual()) throw new InvalidRequestException("prompt", "prompt must be a string, got " + kind(node));
        String prompt = node.textValue();
        if (prompt.isEmpty()) throw new InvalidRequestException("prompt", "prompt is empty");
        checkLength("prompt", prompt.length());
        return prompt;
    }

    private void checkLength(String param, long chars) {
        if (chars > maxPromptChars) {
            throw new InvalidRequestException(param, param + " has " + chars + " characters, more than the limit of " + maxPromptChars);
        }
    }

    private List<String> stop(JsonNode node) {
        if (node == null || node.isNull()) return List.of();
        List<String> stop = new ArrayList<>();
        if (node.isTextual()) {
            stop.add(node.textValue());
        } else if (node.isArray()) {
            for (JsonNode s : node) {
                if (!s.isTextual()) throw new InvalidRequestException("stop", "stop must be a string or an array of strings, found " + kind(s));
                stop.add(s.textValue());
            }
        } else {
            throw new InvalidRequestException("stop", "stop must be a string or an array of strings, got " + kind(node));
        }
        if (stop.size() > maxStopStrings) throw new InvalidRequestException("stop", "at most " + maxStopStrings + " stop strings, got " + stop.size());
        if (stop.stream().anyMatch(String::isEmpty)) throw new InvalidRequestException("stop", "stop strings must not be empty");
        return List.copyOf(stop);
    }

    static boolean present(ObjectNode body, String field) {
        JsonNode node = body.get(field);
        return node != null && !node.isNull();
    }

    private static Integer intField(ObjectNode body, String field, int min, int max) {
        JsonNode node = body.get(field);
        if (node == null || node.isNull()) return null;
        if (!node.isNumber() || !isIntegral(node)) throw new InvalidRequestException(field, field + " must be an integer, got " + kind(node));
        double value = node.doubleValue();
        if (value < min) throw new InvalidRequestException(field, field + " must be >= " + min + ", got " + node);
        if (value > max) throw new InvalidRequestException(field, field + " must be <= " + max + ", got " + node);
        return node.intValue();
    }

    /** An optional boolean field: false when absent or null. */
    public static boolean booleanField(ObjectNode body, String field) {
        JsonNode node = body.get(field);
        if (node == null || node.isNull()) return false;
        if (!node.isBoolean()) throw new InvalidRequestException(field, field + " must be a boolean, got " + kind(node));
        return node.booleanValue();
    }

    private static Long longField(ObjectNode body, String field) {
        JsonNode node = body.get(field);
        if (node == null || node.isNull()) return null;
        if (!node.isNumber() || !isIntegral(node) || !node.canConvertToLong()) {
            throw new InvalidRequestException(field, field + " must be a 64-bit integer, got " + node);
        }
        return node.longValue();
    }

    private static Float floatField(ObjectNode body, String field, float min, float max, boolean minInclusive) {
        JsonNode node = body.get(field);
        if (node == null || node.isNull()) return null;
        if (!node.isNumber()) throw new InvalidRequestException(field, field + " must be a number, got " + kind(node));
        double value = node.doubleValue();
        if (!Double.isFinite(value)) throw new InvalidRequestException(field, field + " must be a finite number, got " + node);
        boolean aboveMin = minInclusive ? value >= min : value > min;
        if (!aboveMin || value > max) {
            throw new InvalidRequestException(field, field + " must be in " + (minInclusive ? "[" : "(") + min + ", " + max + "], got " + node);
        }
        return (float) value;
    }

    private static boolean isIntegral(JsonNode node) {
        if (node.isIntegralNumber()) return true;
        double v = node.doubleValue();
        return Double.isFinite(v) && v == Math.rint(v);
    }

    public static String kind(JsonNode node) {
        return switch (node.getNodeType()) {
            case STRING -> "a string";
            case NUMBER -> "the number " + node;
            case BOOLEAN -> "a boolean";
            case ARRAY -> "an array";
            case OBJECT -> "an object";
            case NULL -> "null";
            default -> node.getNodeType().name().toLowerCase(java.util.Locale.ROOT);
        };
    }
}
