package io.moeflow.api.chat.reply;

import static io.moeflow.engine.grammar.Grammar.alt;
import static io.moeflow.engine.grammar.Grammar.literal;
import static io.moeflow.engine.grammar.Grammar.seq;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.json.JsonMapper;
import io.moeflow.api.ChatOptions;
import io.moeflow.api.InvalidRequestException;
import io.moeflow.api.JsonSchemaGrammar;
import io.moeflow.engine.grammar.Grammar;
import java.util.ArrayList;
import java.util.List;

/**
 * The grammar that forces an answer to be one tool call (tool_choice "required": a call of any of the tools;
 * a named function: a call of that one), in the family's own syntax, its arguments valid against the tool's
 * parameters schema (JsonSchemaGrammar, as response_format json_schema). The request's constrained sampling then
 * lets the model choose only tokens that keep to it, as llama.cpp's tool-call grammars do. The call starts at
 * once: a reasoning block the prompt opened is closed first; no reasoning is generated before a forced call.
 * Families: Hermes (Qwen3 JSON form) and harmony (gpt-oss); for the others a forced call is refused.
 */
public final class ForcedCall {
    private static final JsonMapper JSON = JsonMapper.builder().build();

    private ForcedCall() {}

    /** Throws InvalidRequestException (param tool_choice) for a family whose forced calls moeflow does not build. */
    public static Grammar.Expr grammar(ReplyFormat format, ReplyFormat.ThinkTags think, boolean thinkingOpen, ChatOptions options) {
        if (format != ReplyFormat.HERMES && format != ReplyFormat.HARMONY) {
            throw new InvalidRequestException("tool_choice", "tool_choice \"required\" or a named function is not supported"
                    + " for this model's tool-call format (" + format.name().toLowerCase() + "): moeflow forces calls for"
                    + " Qwen3/Hermes-style (<tool_call>) and gpt-oss (harmony) templates; use \"auto\"", "unsupported_parameter");
        }
        List<Grammar.Expr> calls = new ArrayList<>();
        for (int i = 0; i < options.tools().size(); i++) {
            JsonNode function = options.tools().get(i).path("function");
            String name = function.path("name").textValue();
            if (options.forcedFunction() != null && !options.forcedFunction().equals(name)) continue;
            JsonNode parameters = function.path("parameters");
            Grammar.Expr arguments = parameters.isEmpty() ? JsonSchemaGrammar.anyObject()
                    : JsonSchemaGrammar.compile(parameters, "tools[" + i + "].function.parameters");
            calls.add(format == ReplyFormat.HARMONY
                    ? seq(literal("<|channel|>commentary to=functions." + name + " <|constrain|>json<|message|>"), arguments)
                    : seq(literal("<tool_call>\n{\"name\": " + jsonString(name) + ", \"arguments\": "), arguments,
                            literal("}\n</tool_call>")));
        }
        Grammar.Expr call = alt(calls);
        return thinkingOpen && think != null ? seq(literal(think.close() + "\n\n"), call) : call;
    }

    private static String jsonString(String s) {
        try {
            return JSON.writeValueAsString(s);
        } catch (JsonProcessingException e) {
            throw new IllegalStateException(e);
        }
    }
}
