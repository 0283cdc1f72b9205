package io.moeflow.api.chat.reply;

import com.fasterxml.jackson.databind.JsonNode;
import io.moeflow.api.ChatOptions;
import io.moeflow.api.GenerationService;
import io.moeflow.api.InvalidRequestException;
import io.moeflow.api.ModelRuntime;
import io.moeflow.api.PromptSpec;
import io.moeflow.api.ResponseFormat;
import io.moeflow.engine.grammar.Grammar;
import io.moeflow.scheduler.GenerationRequest;
import io.moeflow.tokenizer.Tokenizer;
import jakarta.enterprise.context.ApplicationScoped;
import jakarta.inject.Inject;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;

/**
 * Prepares a chat completion whose reply is read (the HTTP chat endpoint): renders the prompt through the shared
 * service path, chooses the reply's reader from the model's chat template and the request (ReplyFormat, tools,
 * tool_choice, parallel_tool_calls, reasoning_format, and whether the rendered prompt left a reasoning block open),
 * and for a forced call (tool_choice "required" or a named function) constrains the generation with
 * {@link ForcedCall}'s grammar.
 */
@ApplicationScoped
public class ChatReplies {
    @Inject
    GenerationService service;
    @Inject
    ModelRuntime runtime;

    private volatile MarkerTokens markerTokens;

    /** The requests of a chat request's n choices and the reader of their replies. */
    public record Prepared(List<GenerationRequest> requests, ChatReply reply) {}

    /** Renders and tokenizes {@code spec} (a chat request) as GenerationService.prepareChoices does, with its reader. */
    public Prepared prepare(String id, PromptSpec spec, long defaultSeed) {
        ChatOptions options = spec.chatOptions();
        refuseToolsWithoutCallSyntax(options, runtime.chatTemplate().orElse(null));
        String prompt = service.renderChat(spec);
        if (options.forcesCall() && spec.responseFormat().constrained()) {
            throw new InvalidRequestException("tool_choice", "tool_choice \"required\" or a named function cannot be combined"
                    + " with a response_format that constrains the output: the answer is either a tool call or JSON");
        }
        ChatReply reply = reply(id, options, prompt);
        GenerationRequest request = service.prepareRendered(id, spec, prompt, defaultSeed);
        if (options.forcesCall()) {
            ReplyParser.Settings s = reply.parser().settings();
            String template = runtime.chatTemplate().orElse(null);
            Grammar.Expr call = ForcedCall.grammar(s.format(), s.think(), s.thinkingOpen(), options, template);
            request = request.withConstraint(service.constraint(new ResponseFormat("tool_call", call, "tool_call " + s.format()
                    + " " + s.thinkingOpen() + " " + (template == null ? 0 : template.hashCode()) + " " + options.forcedFunction()
                    + " " + options.tools())));
        }
        return new Prepared(service.choices(id, spec, request), reply);
    }

    /**
     * Tools the model could not call, or that moeflow could not read back, are refused rather than ignored: the
     * template has no tool-call syntax of a known family (the bundled model's ChatML, for one). With tool_choice
     * "none" the tools only reach the template, which is what was asked.
     */
    static void refuseToolsWithoutCallSyntax(ChatOptions options, String template) {
        if (options.tools().isEmpty() || options.toolChoice() == ChatOptions.ToolChoice.NONE) return;
        if (ReplyFormat.of(template) != ReplyFormat.CONTENT_ONLY) return;
        throw new InvalidRequestException("tools", "tools are not supported by this model: its chat template has no"
                + " tool-call syntax moeflow knows (Qwen3/Hermes, DeepSeek, Kimi-K2, Mistral, gpt-oss harmony), so a call could"
                + " be neither made nor read back; send tool_choice \"none\" to only render them", "unsupported_parameter");
    }

    /** The reader of a chat reply for the model's template, the rendered {@code prompt} and the request's options. */
    public ChatReply reply(String id, ChatOptions options, String prompt) {
        String template = runtime.chatTemplate().orElse(null);
        ReplyFormat format = ReplyFormat.of(template);
        ReplyFormat.ThinkTags think = ReplyFormat.thinkTags(template);
        boolean open = think != null && prompt.stripTrailing().endsWith(think.open());
        Map<String, JsonNode> parameters = new HashMap<>();
        for (JsonNode tool : options.tools()) {
            parameters.put(tool.path("function").path("name").asText(), tool.path("function").path("parameters"));
        }
        boolean parseTools = !options.tools().isEmpty() && options.toolChoice() != ChatOptions.ToolChoice.NONE;
        ReplyParser parser = new ReplyParser(new ReplyParser.Settings(format, think, open, !options.reasoningInline(),
                parseTools, options.parallelToolCalls(), parameters, id));
        return new ChatReply(parser, markerTokens(format));
    }

    /** Per format, the control tokens whose text is one of its markers (found once per model). */
    private Map<Integer, String> markerTokens(ReplyFormat format) {
        Tokenizer tokenizer = runtime.tokenizer();
        MarkerTokens cached = markerTokens;
        if (cached == null || cached.tokenizer != tokenizer) {
            cached = new MarkerTokens(tokenizer, new ConcurrentHashMap<>());
            markerTokens = cached;
        }
        return cached.byFormat.computeIfAbsent(format, f -> {
            Map<Integer, String> ids = new HashMap<>();
            String[] texts = tokenizer.vocabulary().tokens();
            for (int id = 0; id < texts.length; id++) {
                if (f.markers().contains(texts[id]) && tokenizer.isControl(id)) ids.put(id, texts[id]);
            }
            return Map.copyOf(ids);
        });
    }

    private record MarkerTokens(Tokenizer tokenizer, Map<ReplyFormat, Map<Integer, String>> byFormat) {}
}
