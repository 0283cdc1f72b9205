package io.moeflow.api;

import com.fasterxml.jackson.core.JsonLocation;
import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.core.StreamReadFeature;
import com.fasterxml.jackson.core.json.JsonReadFeature;
import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectReader;
import com.fasterxml.jackson.databind.json.JsonMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.moeflow.api.chat.ChatRequestReader;
import java.nio.ByteBuffer;
import java.nio.CharBuffer;
import java.nio.charset.CharsetDecoder;
import java.nio.charset.CoderResult;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Deque;
import java.util.List;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Reads the request fields shared by the Kafka prompt records and the OpenAI endpoints from a JSON tree, checking
 * each value's type and range and naming the field in every error. Which fields exist at all, and which are refused,
 * is {@link OpenAiFields}.
 */
public final class RequestParser {
    /**
     * Strict where a lenient reading would let a gateway and moeflow read one body two ways: a key given twice and
     * anything after the JSON value are errors. Lenient only about NaN/Infinity literals (Python's json.dumps writes
     * them) so that they reach the range checks and get a message naming the field, instead of a bare syntax error.
     * The Kafka prompt records are read with the same mapper.
     */
    public static final JsonMapper JSON = JsonMapper.builder()
            .enable(JsonReadFeature.ALLOW_NON_NUMERIC_NUMBERS)
            .enable(StreamReadFeature.STRICT_DUPLICATE_DETECTION)
            .enable(DeserializationFeature.FAIL_ON_TRAILING_TOKENS)
            .build();

    /** Reads one value and stops, so that what follows it is found (and named) here. */
    private static final ObjectReader ONE_VALUE = JSON.reader().without(DeserializationFeature.FAIL_ON_TRAILING_TOKENS);
    private static final Pattern DUPLICATE = Pattern.compile("Duplicate field '(.*)'", Pattern.DOTALL);

    public static final float MAX_TEMPERATURE = 100f;

    /** Largest repeat_penalty (llama.cpp sets none; beyond this every repeated logit is practically erased). */
    public static final float MAX_REPEAT_PENALTY = 100f;
    /** OpenAI's bound of the completions endpoint's integer logprobs. */
    public static final int MAX_COMPLETION_LOGPROBS = 5;

    private final int maxPromptChars;
    private final int maxStopStrings;
    private final int maxChoices;

    public RequestParser(int maxPromptChars, int maxStopStrings) {
        this(maxPromptChars, maxStopStrings, 1);
    }

    /** {@code maxChoices}: the largest {@code n}. */
    public RequestParser(int maxPromptChars, int maxStopStrings, int maxChoices) {
        this.maxPromptChars = maxPromptChars;
        this.maxStopStrings = maxStopStrings;
        this.maxChoices = maxChoices;
    }

    /** Parses a JSON object; a syntax error or a non-object becomes an InvalidRequestException. */
    public static ObjectNode parseObject(String json) {
        if (json == null || json.isBlank()) throw emptyBody();
        JsonNode node;
        try (JsonParser parser = JSON.createParser(json)) {
            node = ONE_VALUE.readTree(parser);
            if (node == null || node.isMissingNode()) throw emptyBody();
            JsonLocation end = parser.currentLocation();
            boolean more;
            try {
                more = parser.nextToken() != null;
            } catch (JsonProcessingException e) {
                more = true; // not even a token: still data after the value
            }
            if (more) {
                throw new InvalidRequestException(null, "request body has more after its JSON value (from line "
                        + end.getLineNr() + ", column " + end.getColumnNr() + "): send exactly one JSON object");
            }
        } catch (JsonProcessingException e) {
            throw notJson(e);
        } catch (java.io.IOException e) {
            throw new java.io.UncheckedIOException(e); // reading a String does no I/O
        }
        if (!node.isObject()) {
            throw new InvalidRequestException(null, "request body must be a JSON object, got " + kind(node));
        }
        checkText(node);
        return (ObjectNode) node;
    }

    /**
     * Parses a request body: strictly UTF-8 (a malformed byte sequence is an error, never replaced), then
     * {@link #parseObject(String)}.
     */
    public static ObjectNode parseObject(byte[] body) {
        if (body == null || body.length == 0) throw emptyBody();
        return parseObject(decodeUtf8(body));
    }

    private static InvalidRequestException emptyBody() {
        return new InvalidRequestException(null, "request body is empty: send a JSON object (Content-Type: application/json)");
    }

    private static String decodeUtf8(byte[] bytes) {
        CharsetDecoder decoder = StandardCharsets.UTF_8.newDecoder()
                .onMalformedInput(CodingErrorAction.REPORT)
                .onUnmappableCharacter(CodingErrorAction.REPORT);
        ByteBuffer in = ByteBuffer.wrap(bytes);
        CharBuffer out = CharBuffer.allocate(bytes.length);
        CoderResult result = decoder.decode(in, out, true);
        if (!result.isError()) result = decoder.flush(out);
        if (result.isError()) {
            throw new InvalidRequestException(null, "request body is not valid UTF-8: " + (result.isMalformed()
                    ? "malformed" : "unmappable") + " byte sequence at byte offset " + in.position());
        }
        return out.flip().toString();
    }

    private static InvalidRequestException notJson(JsonProcessingException e) {
        String original = String.valueOf(e.getOriginalMessage());
        JsonLocation at = e.getLocation();
        String where = at == null ? "" : " (line " + at.getLineNr() + ", column " + at.getColumnNr() + ")";
        Matcher duplicate = DUPLICATE.matcher(original);
        if (duplicate.find()) {
            String key = duplicate.group(1);
            return new InvalidRequestException(key, "request body has the key \"" + key + "\" more than once" + where
                    + ": a key may be given once");
        }
        return new InvalidRequestException(null, "request body is not valid JSON: " + original + where);
    }

    /**
     * Refuses unpaired UTF-16 surrogates (a JSON escape such as \\ud800 without its pair) in every key and string:
     * they are not text, and replacing them would change what the client sent.
     */
    static void checkText(JsonNode root) {
        record Item(String path, JsonNode node) {}
        Deque<Item> todo = new ArrayDeque<>();
        todo.push(new Item("", root));
        while (!todo.isEmpty()) {
            Item item = todo.pop();
            JsonNode node = item.node();
            if (node.isTextual()) {
                checkSurrogates(item.path(), node.textValue());
            } else if (node.isArray()) {
                for (int i = 0; i < node.size(); i++) todo.push(new Item(item.path() + "[" + i + "]", node.get(i)));
            } else if (node.isObject()) {
                for (Map.Entry<String, JsonNode> e : node.properties()) {
                    String path = item.path().isEmpty() ? e.getKey() : item.path() + "." + e.getKey();
                    checkSurrogates(path, e.getKey());
                    todo.push(new Item(path, e.getValue()));
                }
            }
        }
    }

    private static void checkSurrogates(String path, String text) {
        for (int i = 0; i < text.length(); i++) {
            char c = text.charAt(i);
            if (Character.isHighSurrogate(c) && i + 1 < text.length() && Character.isLowSurrogate(text.charAt(i + 1))) {
                i++;
            } else if (Character.isSurrogate(c)) {
                String param = path.isEmpty() ? null : ClientText.forLog(path);
                throw new InvalidRequestException(param, (param == null ? "the request" : param)
                        + " has an unpaired UTF-16 surrogate (\\u" + String.format("%04x", (int) c) + ") at character " + i
                        + ": it is not text");
            }
        }
    }

    /** A completion: {@code prompt} (a string, or an array holding one string). */
    public PromptSpec completion(ObjectNode body) {
        return common(body, prompt(body), null, null, false);
    }

    /** A chat completion: {@code messages}, and the fields that reach the chat template (ChatRequestReader). */
    public PromptSpec chat(ObjectNode body) {
        return common(body, null, ChatRequestReader.messages(body.get("messages"), maxPromptChars), ChatRequestReader.options(body), true);
    }

    /**
     * A Kafka prompt record: either {@code prompt} or {@code messages}. The fields OpenAI defines and moeflow refuses
     * are refused here too; unknown fields are ignored.
     */
    public PromptSpec promptOrMessages(ObjectNode body) {
        boolean hasPrompt = present(body, "prompt");
        boolean hasMessages = present(body, "messages");
        if (hasPrompt && hasMessages) throw new InvalidRequestException("prompt", "give either \"prompt\" or \"messages\", not both");
        checkText(body);
        OpenAiFields.checkKafka(body, hasMessages ? OpenAiFields.Endpoint.CHAT : OpenAiFields.Endpoint.COMPLETIONS);
        Integer n = intField(body, "n", 1, Integer.MAX_VALUE);
        if (n != null && n > 1) {
            // one record is one generation (its events, its resumption after a restart): choices are records
            throw new InvalidRequestException("n", "n > 1 is not supported on Kafka prompts: exactly-once de-duplication"
                    + " and resumption after a restart are per request id, so one record is one generation; send one record"
                    + " per choice, each with its own id and seed", "unsupported_parameter");
        }
        return hasMessages ? chat(body) : completion(body);
    }

    private PromptSpec common(ObjectNode body, String prompt, List<ChatMessage> messages, ChatOptions chatOptions, boolean chat) {
        Integer maxTokens = intField(body, "max_tokens", 1, Integer.MAX_VALUE);
        if (maxTokens == null) maxTokens = intField(body, "max_completion_tokens", 1, Integer.MAX_VALUE);
        Float temperature = floatField(body, "temperature", 0f, MAX_TEMPERATURE, true);
        Float topP = floatField(body, "top_p", 0f, 1f, false);
        Integer topK = intField(body, "top_k", 0, Integer.MAX_VALUE);
        Float minP = floatField(body, "min_p", 0f, 1f, true);
        Long seed = longField(body, "seed");
        JsonNode format = body.get("response_format");
        ResponseFormat responseFormat = format == null || format.isNull() ? ResponseFormat.TEXT : ResponseFormat.parse(format);
        return new PromptSpec(prompt, messages, maxTokens, temperature, topP, topK, minP, seed, stop(body.get("stop")),
                booleanField(body, "ignore_eos"), chatOptions, samplingOptions(body, chat), responseFormat);
    }

    /** Penalties, logit bias, log-probabilities (chat's or completions' form) and n. */
    private SamplingOptions samplingOptions(ObjectNode body, boolean chat) {
        float maxPenalty = io.moeflow.engine.SamplingParams.MAX_ABS_PENALTY;
        Float presence = floatField(body, "presence_penalty", -maxPenalty, maxPenalty, true);
        Float frequency = floatField(body, "frequency_penalty", -maxPenalty, maxPenalty, true);
        Float repeat = floatField(body, "repeat_penalty", 0f, MAX_REPEAT_PENALTY, false);
        Integer repeatLastN = intField(body, "repeat_last_n", -1, Integer.MAX_VALUE);
        Integer logprobs;
        if (chat) {
            boolean wanted = booleanField(body, "logprobs");
            Integer top = intField(body, "top_logprobs", 0, io.moeflow.engine.SamplingParams.MAX_LOGPROBS);
            if (top != null && top > 0 && !wanted) {
                throw new InvalidRequestException("top_logprobs", "top_logprobs requires \"logprobs\": true");
            }
            logprobs = wanted ? (top == null ? 0 : top) : null;
        } else {
            logprobs = intField(body, "logprobs", 0, MAX_COMPLETION_LOGPROBS);
        }
        Integer n = intField(body, "n", 1, Integer.MAX_VALUE);
        if (n != null && n > maxChoices) {
            throw new InvalidRequestException("n", "n must be at most " + maxChoices + " (moeflow.limits.max-choices), got " + n);
        }
        return new SamplingOptions(presence, frequency, repeat, repeatLastN, logitBias(body.get("logit_bias")), logprobs,
                n == null ? 1 : n);
    }

    /** {@code {"token id": bias}}: ids decimal integers >= 0 (the vocabulary is checked later), biases in [-100, 100]. */
    static Map<Integer, Float> logitBias(JsonNode node) {
        if (node == null || node.isNull()) return Map.of();
        if (!node.isObject()) throw new InvalidRequestException("logit_bias", "logit_bias must be an object, got " + kind(node));
        Map<Integer, Float> bias = new java.util.HashMap<>();
        for (Map.Entry<String, JsonNode> e : node.properties()) {
            String key = e.getKey();
            int id;
            try {
                if (!key.matches("[0-9]{1,10}")) throw new NumberFormatException();
                id = Integer.parseInt(key);
            } catch (NumberFormatException ex) {
                throw new InvalidRequestException("logit_bias", "logit_bias keys must be token ids (decimal integers >= 0), got \""
                        + ClientText.forLog(key.length() > 40 ? key.substring(0, 40) + "..." : key) + "\"");
            }
            JsonNode v = e.getValue();
            if (!v.isNumber() || !Double.isFinite(v.doubleValue())) {
                throw new InvalidRequestException("logit_bias", "logit_bias[\"" + id + "\"] must be a number, got " + kind(v));
            }
            double b = v.doubleValue();
            if (b < -io.moeflow.engine.LogitBias.MAX_ABS_BIAS || b > io.moeflow.engine.LogitBias.MAX_ABS_BIAS) {
                throw new InvalidRequestException("logit_bias", "logit_bias[\"" + id + "\"] must be in [-100, 100], got " + v);
            }
            if (bias.put(id, (float) b) != null) {
                throw new InvalidRequestException("logit_bias", "logit_bias names token " + id + " twice (as \"" + key + "\")");
            }
        }
        return bias;
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

    static boolean isIntegral(JsonNode node) {
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
