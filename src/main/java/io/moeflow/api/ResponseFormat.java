package io.moeflow.api;

import com.fasterxml.jackson.databind.JsonNode;
import io.moeflow.engine.grammar.Grammar;
import java.util.Map;

/**
 * A request's {@code response_format}: free text, any JSON object ({@code json_object}) or JSON valid against a
 * schema ({@code json_schema}), the last two enforced by constrained sampling with {@link #grammar()}.
 * {@code key} identifies the grammar (type and schema text), so that requests with the same schema share one
 * compiled constraint and its cached token masks.
 *
 * <p>Other constrained outputs (a forced tool call) can ride on the same path: {@code new ResponseFormat(kind,
 * grammar, key)} with a grammar composed from {@link JsonSchemaGrammar#compile} and {@link Grammar#literal} etc.,
 * put in the PromptSpec; GenerationService.prepare turns any constrained format into the request's constraint.
 */
public record ResponseFormat(String type, Grammar.Expr grammar, String key) {
    public static final ResponseFormat TEXT = new ResponseFormat("text", null, "text");

    public boolean constrained() {
        return grammar != null;
    }

    /** Reads the field's value (an object, never null); throws InvalidRequestException naming what is wrong. */
    static ResponseFormat parse(JsonNode value) {
        String field = "response_format";
        if (!value.isObject()) throw new InvalidRequestException(field, field + " must be an object, got " + RequestParser.kind(value));
        JsonNode type = value.get("type");
        if (type == null || !type.isTextual()) {
            throw new InvalidRequestException(field + ".type", field + ".type must be \"text\", \"json_object\" or \"json_schema\"");
        }
        String t = type.textValue();
        switch (t) {
            case "text", "json_object" -> {
                onlyKeys(value, field, "type");
                return t.equals("text") ? TEXT : new ResponseFormat(t, JsonSchemaGrammar.anyObject(), t);
            }
            case "json_schema" -> {
                onlyKeys(value, field, "type", "json_schema");
                JsonNode js = value.get("json_schema");
                String jsField = field + ".json_schema";
                if (js == null || !js.isObject()) {
                    throw new InvalidRequestException(jsField, jsField + " must be an object with name and schema");
                }
                onlyKeys(js, jsField, "name", "description", "schema", "strict");
                JsonNode name = js.get("name");
                if (name == null || !name.isTextual() || !name.textValue().matches("[A-Za-z0-9_-]{1,64}")) {
                    throw new InvalidRequestException(jsField + ".name", jsField + ".name must be a string of 1 to 64"
                            + " letters, digits, underscores and dashes");
                }
                JsonNode description = js.get("description");
                if (description != null && !description.isNull() && !description.isTextual()) {
                    throw new InvalidRequestException(jsField + ".description", jsField + ".description must be a string");
                }
                JsonNode strict = js.get("strict");
                if (strict != null && !strict.isNull() && !strict.isBoolean()) {
                    throw new InvalidRequestException(jsField + ".strict", jsField + ".strict must be a boolean");
                }
                JsonNode schema = js.get("schema");
                // strict or not, the schema is enforced in full: what cannot be enforced is refused
                if (schema == null || schema.isNull()) schema = com.fasterxml.jackson.databind.node.BooleanNode.TRUE;
                Grammar.Expr grammar = JsonSchemaGrammar.compile(schema, jsField + ".schema");
                return new ResponseFormat(t, grammar, "json_schema " + schema);
            }
            default -> throw new InvalidRequestException(field + ".type", field + ".type must be \"text\", \"json_object\""
                    + " or \"json_schema\", got " + ClientText.forLog(t), "unsupported_value");
        }
    }

    private static void onlyKeys(JsonNode object, String field, String... keys) {
        for (Map.Entry<String, JsonNode> e : object.properties()) {
            if (!java.util.List.of(keys).contains(e.getKey())) {
                throw new InvalidRequestException(field + "." + e.getKey(), "Unrecognized request argument supplied: "
                        + field + "." + ClientText.forLog(e.getKey()), "unknown_parameter");
            }
        }
    }
}
