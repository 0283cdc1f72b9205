package io.moeflow.api;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.util.EnumSet;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.function.Predicate;

/**
 * What moeflow does with each field of OpenAI's request bodies (chat completions and completions, as the OpenAI API
 * reference lists them, plus the vLLM/llama.cpp extensions moeflow knows): nothing is accepted that is not done.
 * <ul>
 *   <li>{@link Decision#IMPLEMENTED}: does what OpenAI documents (validated by {@link RequestParser});</li>
 *   <li>{@link Decision#ACCEPTED}: type-checked, and has nothing to do here (the one model is served whatever
 *   {@code model} says; {@code user} and {@code metadata} only label a request);</li>
 *   <li>{@link Decision#REFUSED}: not implemented; its default value is accepted, any other value is a 400 naming
 *   the field (code {@code unsupported_parameter}).</li>
 * </ul>
 * A value of the wrong type is always a 400. A field that is in neither schema is a 400 (code
 * {@code unknown_parameter}) on HTTP, as OpenAI answers "Unrecognized request argument"; a Kafka prompt ignores it
 * (its schema allows more). docs/CONFIGURATION.md has the same table, which a test keeps in step with this one.
 */
public final class OpenAiFields {
    private OpenAiFields() {}

    public enum Endpoint { CHAT, COMPLETIONS }

    public enum Decision { IMPLEMENTED, ACCEPTED, REFUSED }

    /** How a value is checked: a type, and for refused fields which values are the default. */
    interface Check {
        /** Throws InvalidRequestException when {@code value} (never null, never JSON null) is refused. */
        void check(String field, JsonNode value);
    }

    /** One field of one or both request bodies. {@code accepts} says which values work, for the docs and tests. */
    public record Field(String name, Set<Endpoint> endpoints, Decision decision, String accepts, Check check) {
        void apply(ObjectNode body) {
            JsonNode value = body.get(name);
            if (value != null && !value.isNull()) check.check(name, value);
        }
    }

    private static final Set<Endpoint> BOTH = EnumSet.allOf(Endpoint.class);
    private static final Set<Endpoint> CHAT = EnumSet.of(Endpoint.CHAT);
    private static final Set<Endpoint> COMPLETIONS = EnumSet.of(Endpoint.COMPLETIONS);
    /** Implemented fields are checked by RequestParser, which knows their ranges. */
    private static final Check PARSED = (field, value) -> {};

    public static final List<Field> FIELDS = List.of(
            new Field("messages", CHAT, Decision.IMPLEMENTED,
                    "role, content (a string, null or text parts), reasoning_content, name, tool_call_id, tool_calls", PARSED),
            new Field("prompt", COMPLETIONS, Decision.IMPLEMENTED, "a string, or an array of one string", PARSED),
            new Field("max_tokens", BOTH, Decision.IMPLEMENTED, "integer >= 1; more than the context leaves after the prompt"
                    + " is capped to what it leaves (the answer ends with finish_reason \"length\"), as llama-server does (OpenAI"
                    + " and vLLM answer 400)", PARSED),
            new Field("max_completion_tokens", CHAT, Decision.IMPLEMENTED, "integer >= 1 (max_tokens wins if both are given)", PARSED),
            new Field("temperature", BOTH, Decision.IMPLEMENTED, "0-100, 0 = greedy", PARSED),
            new Field("top_p", BOTH, Decision.IMPLEMENTED, "0 < p <= 1", PARSED),
            new Field("seed", BOTH, Decision.IMPLEMENTED, "64-bit integer", PARSED),
            new Field("stop", BOTH, Decision.IMPLEMENTED, "string or array of strings", PARSED),
            new Field("stream", BOTH, Decision.IMPLEMENTED, "boolean", PARSED),
            new Field("stream_options", BOTH, Decision.IMPLEMENTED,
                    "object, with stream true only: include_usage (boolean); include_obfuscation false", OpenAiFields::streamOptions),
            new Field("top_k", BOTH, Decision.IMPLEMENTED, "integer >= 0, 0 = off (extension)", PARSED),
            new Field("min_p", BOTH, Decision.IMPLEMENTED, "0-1 (extension)", PARSED),
            new Field("ignore_eos", BOTH, Decision.IMPLEMENTED, "boolean (extension)", PARSED),
            new Field("tools", CHAT, Decision.IMPLEMENTED,
                    "function tools, described to the model by its chat template; its calls come back as tool_calls,"
                    + " parsed per model family (docs/CONFIGURATION.md \"Tool calls and reasoning\"); refused for a template with no"
                    + " tool-call syntax of those families unless tool_choice is \"none\"", PARSED),
            new Field("tool_choice", CHAT, Decision.IMPLEMENTED,
                    "\"auto\" (calls parsed), \"none\" (tools still shown, calls not parsed: their text is content),"
                    + " \"required\" or {\"type\": \"function\", \"function\": {\"name\"}} (the answer forced to be one call by"
                    + " constrained sampling)", PARSED),
            new Field("parallel_tool_calls", CHAT, Decision.IMPLEMENTED,
                    "boolean, default true; false keeps the first call of an answer only", PARSED),
            new Field("reasoning_format", CHAT, Decision.IMPLEMENTED,
                    "\"auto\" (default) or \"deepseek\": reasoning in reasoning_content; \"none\": kept inline in content (extension)", PARSED),
            new Field("chat_template_kwargs", CHAT, Decision.IMPLEMENTED,
                    "object: extra chat-template variables; enable_thinking a boolean (extension)", PARSED),
            new Field("response_format", BOTH, Decision.IMPLEMENTED,
                    "{\"type\": \"text\"}, {\"type\": \"json_object\"} or {\"type\": \"json_schema\", \"json_schema\":"
                    + " {name, schema, strict?, description?}}, enforced by constrained sampling; a schema keyword it cannot"
                    + " enforce is refused (on /v1/completions an extension)", PARSED),
            new Field("add_generation_prompt", CHAT, Decision.IMPLEMENTED, "boolean, default true (extension)", PARSED),
            new Field("n", BOTH, Decision.IMPLEMENTED,
                    "integer 1..moeflow.limits.max-choices; choice i samples with seed + i (HTTP only: a Kafka prompt is one choice)", PARSED),
            new Field("frequency_penalty", BOTH, Decision.IMPLEMENTED, "-2..2, times the count of each generated token", PARSED),
            new Field("presence_penalty", BOTH, Decision.IMPLEMENTED, "-2..2, once for each generated token", PARSED),
            new Field("logit_bias", BOTH, Decision.IMPLEMENTED, "object: token id (string) -> -100..100 added to its logit", PARSED),
            new Field("logprobs", CHAT, Decision.IMPLEMENTED, "boolean: choices[].logprobs.content", PARSED),
            new Field("top_logprobs", CHAT, Decision.IMPLEMENTED, "integer 0..20, with logprobs true", PARSED),
            new Field("logprobs", COMPLETIONS, Decision.IMPLEMENTED, "integer 0..5: the legacy logprobs object", PARSED),
            new Field("repeat_penalty", BOTH, Decision.IMPLEMENTED, "> 0 (at most 100), 1 = off (extension, llama.cpp's)", PARSED),
            new Field("repeat_last_n", BOTH, Decision.IMPLEMENTED,
                    "integer >= -1, default 64; -1 = whole sequence, 0 = off (extension, llama.cpp's)", PARSED),

            new Field("model", BOTH, Decision.ACCEPTED, "any string: the served model answers", type(JsonNode::isTextual, "a string")),
            new Field("user", BOTH, Decision.ACCEPTED, "string", type(JsonNode::isTextual, "a string")),
            new Field("metadata", CHAT, Decision.ACCEPTED, "object of strings (nothing is stored)", OpenAiFields::metadata),
            new Field("safety_identifier", CHAT, Decision.ACCEPTED, "string", type(JsonNode::isTextual, "a string")),
            new Field("prompt_cache_key", CHAT, Decision.ACCEPTED, "string", type(JsonNode::isTextual, "a string")),

            refused("functions", CHAT, "[]", JsonNode::isArray, "an array", JsonNode::isEmpty),
            refused("function_call", CHAT, "\"none\"", v -> v.isTextual() || v.isObject(), "a string or an object",
                    v -> "none".equals(v.textValue())),
            refused("audio", CHAT, "null", JsonNode::isObject, "an object", v -> false),
            refused("modalities", CHAT, "[\"text\"]", JsonNode::isArray, "an array",
                    v -> v.size() == 1 && "text".equals(v.get(0).textValue())),
            refused("prediction", CHAT, "null", JsonNode::isObject, "an object", v -> false),
            refused("reasoning_effort", CHAT, "null", JsonNode::isTextual, "a string", v -> false),
            refused("verbosity", CHAT, "\"medium\"", JsonNode::isTextual, "a string", v -> "medium".equals(v.textValue())),
            refused("web_search_options", CHAT, "null", JsonNode::isObject, "an object", v -> false),
            refused("service_tier", CHAT, "\"auto\" or \"default\"", JsonNode::isTextual, "a string",
                    v -> "auto".equals(v.textValue()) || "default".equals(v.textValue())),
            refused("store", CHAT, "false", JsonNode::isBoolean, "a boolean", v -> !v.booleanValue()),
            refused("prompt_cache_retention", CHAT, "\"in-memory\"", JsonNode::isTextual, "a string",
                    v -> "in-memory".equals(v.textValue()) || "in_memory".equals(v.textValue())),
            refused("best_of", COMPLETIONS, "1", OpenAiFields::isInteger, "an integer", v -> v.asLong() == 1),
            refused("echo", COMPLETIONS, "false", JsonNode::isBoolean, "a boolean", v -> !v.booleanValue()),
            refused("suffix", COMPLETIONS, "\"\"", JsonNode::isTextual, "a string", v -> v.textValue().isEmpty()));

    /**
     * Checks an HTTP request body: every field known for {@code endpoint} by its rule, and any other field is an
     * error (the rules of implemented fields' values are RequestParser's).
     */
    public static void checkHttp(ObjectNode body, Endpoint endpoint) {
        for (Iterator<String> names = body.fieldNames(); names.hasNext(); ) {
            String name = names.next();
            Field field = field(name, endpoint);
            if (field == null) {
                Field other = field(name, endpoint == Endpoint.CHAT ? Endpoint.COMPLETIONS : Endpoint.CHAT);
                throw new InvalidRequestException(name, "Unrecognized request argument supplied: " + name
                        + (other != null ? " (it belongs to " + (endpoint == Endpoint.CHAT ? "/v1/completions" : "/v1/chat/completions") + ")" : "")
                        + "; docs/CONFIGURATION.md lists the fields moeflow takes", "unknown_parameter");
            }
            field.apply(body);
        }
        if (!RequestParser.booleanField(body, "stream") && RequestParser.present(body, "stream_options")) {
            throw new InvalidRequestException("stream_options", "stream_options is only allowed when stream is true");
        }
    }

    /** Checks a Kafka prompt: the accepted and refused fields by their rules; unknown fields are ignored. */
    public static void checkKafka(ObjectNode body, Endpoint endpoint) {
        for (Field field : FIELDS) {
            if (field.decision() != Decision.IMPLEMENTED && field.endpoints().contains(endpoint)) field.apply(body);
        }
        // The reply is read from a chat prompt's generation only (its last event carries it, see TokenEventJson).
        if (endpoint == Endpoint.COMPLETIONS) {
            for (String name : CHAT_REPLY) {
                if (RequestParser.present(body, name)) {
                    throw new InvalidRequestException(name, name + " is read from a chat reply: it needs \"messages\", not"
                            + " \"prompt\"", "unsupported_parameter");
                }
            }
        }
    }

    /** Fields about reading the reply, which a Kafka prompt with "prompt" (no chat reply) would ignore. */
    static final List<String> CHAT_REPLY = List.of("tool_choice", "parallel_tool_calls", "reasoning_format");

    public static Field field(String name, Endpoint endpoint) {
        for (Field f : FIELDS) {
            if (f.name().equals(name) && f.endpoints().contains(endpoint)) return f;
        }
        return null;
    }

    private static Field refused(String name, Set<Endpoint> endpoints, String defaultValue, Predicate<JsonNode> type,
                                 String typeName, Predicate<JsonNode> isDefault) {
        Check check = (field, value) -> {
            typeCheck(field, value, type, typeName);
            if (!isDefault.test(value)) {
                throw new InvalidRequestException(field, field + " is not supported by moeflow: only its default ("
                        + defaultValue + ") is accepted, got " + shortText(value), "unsupported_parameter");
            }
        };
        return new Field(name, endpoints, Decision.REFUSED, "only " + defaultValue, check);
    }

    private static boolean isInteger(JsonNode v) {
        return v.isNumber() && RequestParser.isIntegral(v);
    }

    private static Check type(Predicate<JsonNode> type, String typeName) {
        return (field, value) -> typeCheck(field, value, type, typeName);
    }

    private static void typeCheck(String field, JsonNode value, Predicate<JsonNode> type, String typeName) {
        if (!type.test(value)) {
            throw new InvalidRequestException(field, field + " must be " + typeName + ", got " + RequestParser.kind(value));
        }
    }

    private static void metadata(String field, JsonNode value) {
        typeCheck(field, value, JsonNode::isObject, "an object");
        for (Map.Entry<String, JsonNode> e : value.properties()) {
            if (!e.getValue().isTextual()) {
                throw new InvalidRequestException(field + "." + e.getKey(), field + " values must be strings, got "
                        + RequestParser.kind(e.getValue()) + " for " + shortText(e.getKey()));
            }
        }
    }

    private static void streamOptions(String field, JsonNode value) {
        typeCheck(field, value, JsonNode::isObject, "an object");
        for (Map.Entry<String, JsonNode> e : value.properties()) {
            String key = field + "." + e.getKey();
            JsonNode v = e.getValue();
            switch (e.getKey()) {
                case "include_usage" -> {
                    if (!v.isNull()) typeCheck(key, v, JsonNode::isBoolean, "a boolean");
                }
                case "include_obfuscation" -> {
                    if (v.isNull()) break;
                    typeCheck(key, v, JsonNode::isBoolean, "a boolean");
                    if (v.booleanValue()) {
                        throw new InvalidRequestException(key, key + " is not supported by moeflow: only false is accepted",
                                "unsupported_parameter");
                    }
                }
                default -> throw new InvalidRequestException(key, "Unrecognized request argument supplied: " + key, "unknown_parameter");
            }
        }
    }

    private static String shortText(Object value) {
        String s = String.valueOf(value);
        return s.length() > 80 ? s.substring(0, 80) + "..." : s;
    }
}
