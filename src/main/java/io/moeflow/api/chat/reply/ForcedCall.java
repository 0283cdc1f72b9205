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
 * The markers are matched as text: where the model file types them as control tokens (which add no text, so a
 * grammar over token texts cannot choose them), the model spells them with ordinary tokens, which the reply parser
 * reads the same.
 */
public final class ForcedCall {
    private static final JsonMapper JSON = JsonMapper.builder().build();

    private ForcedCall() {}

    /**
     * The grammar of one call in {@code format}'s syntax; {@code template} (the model's chat template, or null)
     * tells DeepSeek's and Mistral's variants apart. Throws InvalidRequestException (param tool_choice) for a
     * format without call syntax.
     */
    public static Grammar.Expr grammar(ReplyFormat format, ReplyFormat.ThinkTags think, boolean thinkingOpen, ChatOptions options,
                                       String template) {
        if (format == ReplyFormat.CONTENT_ONLY) {
            throw new InvalidRequestException("tool_choice", "tool_choice \"required\" or a named function is not supported"
                    + " for this model: its chat template has no tool-call syntax moeflow knows; use \"auto\"", "unsupported_parameter");
        }
        String t = template == null ? "" : template;
        List<Grammar.Expr> calls = new ArrayList<>();
        for (int i = 0; i < options.tools().size(); i++) {
            JsonNode function = options.tools().get(i).path("function");
            String name = function.path("name").textValue();
            if (options.forcedFunction() != null && !options.forcedFunction().equals(name)) continue;
            JsonNode parameters = function.path("parameters");
            Grammar.Expr args = parameters.isEmpty() ? JsonSchemaGrammar.anyObject()
                    : JsonSchemaGrammar.compile(parameters, "tools[" + i + "].function.parameters");
            calls.add(switch (format) {
                case HARMONY -> seq(literal("<|channel|>commentary to=functions." + name + " <|constrain|>json<|message|>"), args);
                case HERMES -> seq(literal("<tool_call>\n{\"name\": " + jsonString(name) + ", \"arguments\": "), args,
                        literal("}\n</tool_call>"));
                case DEEPSEEK -> t.contains("```json")
                        ? seq(literal("<｜tool▁calls▁begin｜><｜tool▁call▁begin｜>function<｜tool▁sep｜>" + name + "\n```json\n"), args,
                                literal("\n```<｜tool▁call▁end｜><｜tool▁calls▁end｜>"))
                        : seq(literal("<｜tool▁calls▁begin｜><｜tool▁call▁begin｜>" + name + "<｜tool▁sep｜>"), args,
                                literal("<｜tool▁call▁end｜><｜tool▁calls▁end｜>"));
                case KIMI -> seq(literal("<|tool_calls_section_begin|><|tool_call_begin|>functions." + name + ":0<|tool_call_argument_begin|>"),
                        args, literal("<|tool_call_end|><|tool_calls_section_end|>"));
                case MISTRAL -> t.contains("[ARGS]")
                        ? seq(literal("[TOOL_CALLS]" + name + "[ARGS]"), args)
                        : seq(literal("[TOOL_CALLS][{\"name\": " + jsonString(name) + ", \"arguments\": "), args, literal("}]"));
                case CONTENT_ONLY -> throw new IllegalStateException();
            });
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
