package io.moeflow.api.chat;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.json.JsonMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.moeflow.api.ChatMessage;
import io.moeflow.api.ChatOptions;
import io.moeflow.api.InvalidRequestException;
import io.moeflow.api.chat.jinja.JinjaTemplate;
import io.moeflow.api.chat.jinja.Marks;
import io.moeflow.api.chat.jinja.RenderLimits;
import io.moeflow.api.chat.jinja.TemplateException;
import io.moeflow.api.chat.jinja.TemplateValues;
import java.time.LocalDateTime;
import java.time.format.DateTimeFormatter;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.function.Supplier;

/**
 * Renders chat messages into a prompt with the model's tokenizer.chat_template the way llama-server does
 * (common/chat.cpp): the template is run by moeflow's own Jinja interpreter ({@link JinjaTemplate}, jinja2's
 * semantics with Hugging Face's settings), fed the messages as llama.cpp normalises them, with llama.cpp's
 * workarounds decided by probing the template once (as jinja::caps_get does): a first system message the
 * template ignores (Mixtral's original template) is folded into the next message, tool-call arguments become
 * objects when the template reads them as objects, "developer" becomes "system", gpt-oss gets "thinking".
 * A model without a template gets llama.cpp's chatml template. Client text is only ever data in the context.
 */
public final class ChatTemplateRenderer {
    /** llama.cpp's CHATML_TEMPLATE_SRC, used when the model has no template. */
    public static final String CHATML = "{%- for message in messages -%}\n"
            + "  {{- '<|im_start|>' + message.role + '\n' + message.content + '<|im_end|>\n' -}}\n"
            + "{%- endfor -%}\n"
            + "{%- if add_generation_prompt -%}\n"
            + "  {{- '<|im_start|>assistant\n' -}}\n"
            + "{%- endif -%}";

    /** The special-token texts the template sees and whether the tokenizer adds BOS/EOS itself. */
    public record Tokens(String bos, String eos, boolean addBos, boolean addEos) {
        public Tokens {
            bos = bos == null ? "" : bos;
            eos = eos == null ? "" : eos;
        }
    }

    /** What probing found the template to do (llama.cpp's chat_template_caps). */
    public record Capabilities(boolean stringContent, boolean typedContent, boolean systemRole, boolean tools,
                               boolean toolCalls, boolean objectArguments) {}

    private record Compiled(JinjaTemplate template, Capabilities caps, boolean harmony, boolean ministral3,
                            TemplateException syntaxError) {}

    private static final JsonMapper JSON = JsonMapper.builder().build();
    private static final int CACHE_SIZE = 8;

    private final RenderLimits limits;
    private final Supplier<LocalDateTime> now;
    private final Map<String, Compiled> cache = new LinkedHashMap<>(16, 0.75f, true) {
        @Override
        protected boolean removeEldestEntry(Map.Entry<String, Compiled> eldest) {
            return size() > CACHE_SIZE;
        }
    };

    /** Default limits, local time for strftime_now and date_string. */
    public ChatTemplateRenderer() {
        this(RenderLimits.DEFAULT, LocalDateTime::now);
    }

    public ChatTemplateRenderer(RenderLimits limits, Supplier<LocalDateTime> now) {
        this.limits = limits;
        this.now = now;
    }

    /** The template text that is rendered for a model's template (null or blank: chatml). */
    public static String effectiveSource(String template) {
        return template == null || template.isBlank() ? CHATML : template;
    }

    /**
     * The prompt for {@code messages}. Every failure (a template error, its raise_exception, a render limit) is an
     * InvalidRequestException naming "messages".
     */
    public String render(String template, List<ChatMessage> messages, ChatOptions options, Tokens tokens) {
        Compiled c = compile(effectiveSource(template));
        Map<String, Object> context = new LinkedHashMap<>();
        context.put("messages", TemplateValues.fromJson(messagesJson(messages, c)));
        context.put("bos_token", tokens.bos());
        context.put("eos_token", tokens.eos());
        context.put("enable_thinking", options.enableThinking());
        if (!options.tools().isEmpty()) context.put("tools", TemplateValues.fromJson(options.tools()));
        LocalDateTime time = now.get();
        context.put("datetime", time.format(DateTimeFormatter.ofPattern("MMM dd yyyy", Locale.US)));
        context.put("date_string", time.format(DateTimeFormatter.ofPattern("dd MMM yyyy", Locale.US)));
        for (Map.Entry<String, JsonNode> e : options.kwargs()) context.put(e.getKey(), TemplateValues.fromJson(e.getValue()));
        if (options.addGenerationPrompt()) context.put("add_generation_prompt", true);
        String prompt;
        try {
            prompt = c.template.render(context, limits, () -> time, null);
        } catch (TemplateException e) {
            throw invalid(e);
        }
        if (tokens.addBos() && !tokens.bos().isEmpty() && prompt.startsWith(tokens.bos())) prompt = prompt.substring(tokens.bos().length());
        if (tokens.addEos() && !tokens.eos().isEmpty() && prompt.endsWith(tokens.eos())) {
            prompt = prompt.substring(0, prompt.length() - tokens.eos().length());
        }
        return prompt;
    }

    /** The capabilities found by probing the template (null or blank: chatml's). */
    public Capabilities capabilities(String template) {
        Compiled c = compile(effectiveSource(template));
        if (c.syntaxError != null) throw invalid(c.syntaxError);
        return c.caps;
    }

    private static InvalidRequestException invalid(TemplateException e) {
        String message = switch (e.kind()) {
            case SYNTAX -> "the model's chat template cannot be parsed: " + e.describe();
            case RAISED -> "the chat template refused the messages: " + e.getMessage();
            case LIMIT -> "the chat template exceeded a render limit: " + e.getMessage();
            case RUNTIME -> "the chat template failed: " + e.describe();
        };
        return new InvalidRequestException("messages", message);
    }

    private Compiled compile(String source) {
        synchronized (cache) {
            Compiled c = cache.get(source);
            if (c != null) {
                if (c.syntaxError != null) throw invalid(c.syntaxError);
                return c;
            }
        }
        Compiled c;
        try {
            JinjaTemplate t = JinjaTemplate.parse(source);
            c = new Compiled(t, probe(t), source.contains("<|channel|>"), isMinistral3(source), null);
        } catch (TemplateException e) {
            c = new Compiled(null, null, false, false, e);
        }
        synchronized (cache) {
            cache.put(source, c);
        }
        if (c.syntaxError != null) throw invalid(c.syntaxError);
        return c;
    }

    /** common_chat_try_specialized_template's test for Ministral 3 / Mistral Large 3 (content blocks). */
    private static boolean isMinistral3(String src) {
        return src.contains("[SYSTEM_PROMPT]") && src.contains("[TOOL_CALLS]") && src.contains("[ARGS]") && !src.contains("[CALL_ID]");
    }

    // ---- llama.cpp's message JSON and workarounds ------------------------------------------------------

    /** common_chat_msg::to_json_oaicompat for every message, then the workarounds the template needs. */
    private ArrayNode messagesJson(List<ChatMessage> messages, Compiled c) {
        Capabilities caps = c.caps;
        boolean onlyString = caps.stringContent() && !caps.typedContent();
        boolean onlyTyped = !caps.stringContent() && caps.typedContent();
        ArrayNode out = JsonNodeFactory.instance.arrayNode();
        for (ChatMessage m : messages) {
            ObjectNode j = out.addObject();
            String role = m.role().equals("developer") && !c.harmony ? "system" : m.role();
            j.put("role", role);
            if (m.contentParts() != null && !m.contentParts().isEmpty() && !onlyString) {
                ArrayNode parts = j.putArray("content");
                for (String text : m.contentParts()) parts.addObject().put("type", "text").put("text", text);
            } else if (onlyTyped && !m.content().isEmpty()) {
                j.putArray("content").addObject().put("type", "text").put("text", m.content());
            } else {
                j.put("content", m.content());
            }
            if (m.reasoningContent() != null && !m.reasoningContent().isEmpty()) j.put("reasoning_content", m.reasoningContent());
            if (m.name() != null && !m.name().isEmpty()) j.put("name", m.name());
            if (m.toolCallId() != null && !m.toolCallId().isEmpty()) j.put("tool_call_id", m.toolCallId());
            if (!m.toolCalls().isEmpty()) {
                ArrayNode calls = j.putArray("tool_calls");
                for (ChatMessage.ToolCall call : m.toolCalls()) {
                    ObjectNode tc = calls.addObject();
                    tc.put("type", "function");
                    ObjectNode f = tc.putObject("function");
                    f.put("name", call.name());
                    if (caps.objectArguments()) {
                        f.set("arguments", parseArguments(call.arguments()));
                    } else {
                        f.put("arguments", call.arguments());
                    }
                    if (call.id() != null && !call.id().isEmpty()) tc.put("id", call.id());
                }
            }
        }
        if (!caps.systemRole() && !out.isEmpty() && "system".equals(out.get(0).get("role").asText())) {
            // llama.cpp's system_message_not_supported: "system\nnext", or the system message dropped when alone
            if (out.size() > 1) {
                ObjectNode next = (ObjectNode) out.get(1);
                next.put("content", out.get(0).get("content").asText() + "\n" + next.get("content").asText());
            }
            out.remove(0);
        }
        if (c.ministral3) {
            ministral3Blocks(out);
        } else if (c.harmony) {
            for (JsonNode n : out) {
                ObjectNode m = (ObjectNode) n;
                if (m.has("reasoning_content")) {
                    m.set("thinking", m.get("reasoning_content"));
                    if (m.has("tool_calls")) m.remove("content");
                }
            }
        }
        return out;
    }

    private static JsonNode parseArguments(String arguments) {
        try {
            return JSON.readTree(arguments);
        } catch (JsonProcessingException e) {
            throw new InvalidRequestException("messages", "tool call arguments are not valid JSON: " + e.getOriginalMessage());
        }
    }

    /** common_chat_params_init_ministral_3: system and assistant content as blocks, reasoning as a thinking block. */
    private static void ministral3Blocks(ArrayNode messages) {
        for (JsonNode n : messages) {
            ObjectNode m = (ObjectNode) n;
            String role = m.get("role").asText();
            if (!role.equals("system") && !role.equals("assistant")) continue;
            ArrayNode blocks = JsonNodeFactory.instance.arrayNode();
            JsonNode reasoning = m.get("reasoning_content");
            if (reasoning != null && reasoning.isTextual()) blocks.addObject().put("type", "thinking").put("thinking", reasoning.textValue());
            JsonNode content = m.get("content");
            if (content != null && content.isTextual()) {
                blocks.addObject().put("type", "text").put("text", content.textValue());
            } else if (content != null && content.isArray()) {
                blocks.addAll((ArrayNode) content);
            }
            m.set("content", blocks);
            m.remove("reasoning_content");
        }
    }

    // ---- capability probes (jinja::caps_get) -----------------------------------------------------------

    private record Probe(boolean ok, Object messages, Object tools, Marks marks) {}

    private Probe run(JinjaTemplate t, ArrayNode messages, ArrayNode tools) {
        Marks marks = new Marks();
        Object m = TemplateValues.fromJsonDistinct(messages);
        Object tl = tools == null ? null : TemplateValues.fromJsonDistinct(tools);
        Map<String, Object> context = new LinkedHashMap<>();
        context.put("messages", m);
        if (tl != null) context.put("tools", tl);
        context.put("bos_token", "");
        context.put("eos_token", "");
        context.put("add_generation_prompt", true);
        boolean ok;
        try {
            t.render(context, limits, now, marks);
            ok = true;
        } catch (TemplateException e) {
            ok = false;
        }
        return new Probe(ok, m, tl, marks);
    }

    private static ObjectNode msg(String role, String content) {
        ObjectNode m = JsonNodeFactory.instance.objectNode();
        m.put("role", role);
        m.put("content", content);
        return m;
    }

    private static ArrayNode toolCallConversation(JsonNode arguments) {
        ArrayNode a = JsonNodeFactory.instance.arrayNode();
        a.add(msg("user", "User message"));
        ObjectNode call = msg("assistant", "");
        ObjectNode tc = call.putArray("tool_calls").addObject();
        tc.put("id", "call00001");
        tc.put("type", "function");
        tc.putObject("function").put("name", "tool1").set("arguments", arguments);
        a.add(call);
        ObjectNode tool = msg("tool", "Tool response");
        tool.put("tool_call_id", "call00001");
        a.add(tool);
        a.add(msg("assistant", "The tool response was 'tool response'"));
        a.add(msg("user", "User message"));
        return a;
    }

    private static ArrayNode probeTools() {
        ArrayNode tools = JsonNodeFactory.instance.arrayNode();
        ObjectNode t = tools.addObject();
        t.put("name", "tool");
        t.put("type", "function");
        ObjectNode f = t.putObject("function");
        f.put("name", "tool1");
        f.put("description", "Tool description");
        ObjectNode p = f.putObject("parameters");
        p.put("type", "object");
        p.putObject("properties").putObject("arg").put("type", "string").put("description", "Arg description");
        p.putArray("required").add("arg");
        return tools;
    }

    /**
     * jinja::caps_get: renders small conversations and looks at which values the template read. One difference:
     * llama.cpp gives the first probe tools = [null], which its lenient engine tolerates; a strict engine fails on
     * it, so that probe gets no tools.
     */
    private Capabilities probe(JinjaTemplate t) {
        boolean stringContent = true;
        boolean typedContent = false;
        boolean systemRole = true;
        boolean tools = true;
        boolean toolCalls = true;
        boolean objectArguments = false;

        ArrayNode one = JsonNodeFactory.instance.arrayNode().add(msg("user", "content"));
        Probe p = run(t, one, null);
        Object content = TemplateValues.at(p.messages, 0, "content");
        if (p.marks.hadOp(content, "selectattr") || p.marks.hadOp(content, "array_access")) typedContent = true;
        if (!p.ok) stringContent = false;

        ArrayNode withSystem = JsonNodeFactory.instance.arrayNode().add(msg("system", "System message")).add(msg("user", "User message"));
        p = run(t, withSystem, JsonNodeFactory.instance.arrayNode());
        if (!p.marks.used(TemplateValues.at(p.messages, 0, "content"))) systemRole = false;

        ObjectNode objectArgs = JsonNodeFactory.instance.objectNode().put("arg", "value");
        p = run(t, toolCallConversation(objectArgs), probeTools());
        if (p.ok) {
            if (!p.marks.used(TemplateValues.at(p.tools, 0, "function", "name"))) tools = false;
            Object calls = TemplateValues.at(p.messages, 1, "tool_calls");
            if (!p.marks.used(calls)) {
                toolCalls = false;
            } else if (p.marks.used(TemplateValues.at(calls, 0, "function", "arguments", "arg"))) {
                objectArguments = true;
            }
        }
        if (!objectArguments) {
            p = run(t, toolCallConversation(JsonNodeFactory.instance.textNode("{\"arg\": \"value\"}")), probeTools());
            if (!p.ok) {
                toolCalls = false;
                tools = false;
            } else {
                if (!p.marks.used(TemplateValues.at(p.tools, 0, "function", "name"))) tools = false;
                if (!p.marks.used(TemplateValues.at(p.messages, 1, "tool_calls"))) toolCalls = false;
            }
        }
        return new Capabilities(stringContent, typedContent, systemRole, tools, toolCalls, objectArguments);
    }
}
