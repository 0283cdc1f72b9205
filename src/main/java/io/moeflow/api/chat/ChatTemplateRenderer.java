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
 * (common/chat.cpp at llama.cpp 34af94cd9ab2): the template is run by moeflow's own Jinja interpreter ({@link JinjaTemplate}, jinja2's
 * semantics with Hugging Face's settings), fed the messages as llama.cpp normalises them, with llama.cpp's
 * workarounds decided by probing the template once (as jinja::caps_get does): a first system message the
 * template ignores (Mixtral's original template) is folded into the next message, tool-call arguments become
 * objects when the template reads them as objects, "developer" becomes "system", gpt-oss, LFM2 and MiniMax-M3
 * get "thinking", Ministral 3 content blocks, DeepSeek-V4 its tool results in call order, StepFun trimmed text.
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

    /** The handlers of llama.cpp's common_chat_try_specialized_template that change the messages, in its order. */
    private enum Family { MINISTRAL_3, GPT_OSS, THINKING_FIELD, DEEPSEEK_V4, OTHER }

    private record Compiled(JinjaTemplate template, Capabilities caps, Family family, boolean harmony, boolean stepfun,
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
            c = new Compiled(t, probe(t), family(source), source.contains("<|channel|>"),
                    source.contains("You have access to the following functions in JSONSchema format"), null);
        } catch (TemplateException e) {
            c = new Compiled(null, null, Family.OTHER, false, false, e);
        }
        synchronized (cache) {
            cache.put(source, c);
        }
        if (c.syntaxError != null) throw invalid(c.syntaxError);
        return c;
    }

    /** common_chat_try_specialized_template's tests, for the handlers that adjust the messages. */
    private static Family family(String src) {
        if (src.contains("[SYSTEM_PROMPT]") && src.contains("[TOOL_CALLS]") && src.contains("[ARGS]") && !src.contains("[CALL_ID]")) {
            return Family.MINISTRAL_3;
        }
        if (src.contains("<|channel|>")) return Family.GPT_OSS;
        if (src.contains("<atem:function_calls>") && src.contains("<|eom|>")) return Family.OTHER; // muse glimmer
        if (src.contains(">>>all") && src.contains(">>>${recipient}")) return Family.OTHER; // functionary v3.2
        if (src.contains("<|tool_calls_section_begin|>") && src.contains("<|tool_call_begin|>")) return Family.OTHER; // Kimi-K2
        if (src.contains("<|open|>") && src.contains("<|close|>") && src.contains("<|end_of_msg|>")) return Family.OTHER; // Kimi-K3
        if (src.contains("<|START_TEXT|>") && src.contains("<|START_ACTION|>")) return Family.OTHER; // Cohere2MoE
        boolean lfm2 = src.contains("<|tool_list_start|>") && src.contains("<|tool_list_end|>");
        boolean lfm25 = src.contains("List of tools: [") && !src.contains("<|tool_list_start|>");
        if (lfm2 || lfm25) return Family.THINKING_FIELD;
        if (src.contains("<|role_sep|>") && src.contains("<|message_sep|>") && !src.contains("<|function_call|>")) return Family.OTHER; // GigaChat 3
        if (src.contains("]<]minimax[>[") && src.contains("<tool_call>") && src.contains("<invoke name=")) return Family.THINKING_FIELD; // MiniMax-M3
        if (src.contains("dsml_token") && src.contains("DSML") && (src.contains("function_calls") || src.contains("tool_calls"))) {
            return src.contains("function_calls") ? Family.OTHER : Family.DEEPSEEK_V4;
        }
        return Family.OTHER;
    }

    // ---- llama.cpp's message JSON and workarounds ------------------------------------------------------

    /** common_chat_msg::to_json_oaicompat for every message, then the workarounds the template needs. */
    private ArrayNode messagesJson(List<ChatMessage> messages, Compiled c) {
        Capabilities caps = c.caps;
        boolean onlyString = caps.stringContent() && !caps.typedContent();
        boolean onlyTyped = !caps.stringContent() && caps.typedContent();
        ArrayNode out = JsonNodeFactory.instance.arrayNode();
        for (ChatMessage original : messages) {
            ChatMessage m = c.stepfun ? trimmed(original) : original;
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
        switch (c.family) {
            case MINISTRAL_3 -> ministral3Blocks(out);
            case GPT_OSS, THINKING_FIELD -> {
                for (JsonNode n : out) {
                    ObjectNode m = (ObjectNode) n;
                    if (m.has("reasoning_content")) {
                        m.set("thinking", m.get("reasoning_content"));
                        if (c.family == Family.GPT_OSS && m.has("tool_calls")) m.remove("content");
                    }
                }
            }
            case DEEPSEEK_V4 -> sortToolResults(out);
            case OTHER -> { }
        }
        return out;
    }

    /** workaround::trim_all_content (StepFun): content, reasoning and text parts without ASCII whitespace around. */
    private static ChatMessage trimmed(ChatMessage m) {
        List<String> parts = m.contentParts() == null ? null : m.contentParts().stream().map(ChatTemplateRenderer::trimAscii).toList();
        return new ChatMessage(m.role(), parts == null ? trimAscii(m.content()) : null, parts,
                m.reasoningContent() == null ? null : trimAscii(m.reasoningContent()), m.name(), m.toolCallId(), m.toolCalls());
    }

    private static String trimAscii(String s) {
        int from = 0;
        int to = s.length();
        while (from < to && isAsciiSpace(s.charAt(from))) from++;
        while (to > from && isAsciiSpace(s.charAt(to - 1))) to--;
        return s.substring(from, to);
    }

    private static boolean isAsciiSpace(char c) {
        return c == ' ' || (c >= '\t' && c <= '\r');
    }

    /**
     * deepseek_v4_sort_tool_results: DeepSeek V4 renders a run of user/tool messages as one block, its tool results in
     * the order of the calls of the assistant message before it (matched by id).
     */
    private static void sortToolResults(ArrayNode messages) {
        Map<String, Integer> order = new java.util.HashMap<>();
        int i = 0;
        while (i < messages.size()) {
            JsonNode m = messages.get(i);
            String role = m.get("role").asText();
            if (role.equals("assistant") && m.has("tool_calls")) {
                order.clear();
                JsonNode calls = m.get("tool_calls");
                for (int k = 0; k < calls.size(); k++) {
                    String id = calls.get(k).path("id").asText("");
                    if (!id.isEmpty()) order.put(id, k);
                }
                i++;
                continue;
            }
            if (!role.equals("user") && !role.equals("tool")) {
                i++;
                continue;
            }
            List<Integer> positions = new java.util.ArrayList<>();
            int end = i;
            for (; end < messages.size(); end++) {
                String r = messages.get(end).get("role").asText();
                if (r.equals("tool")) {
                    positions.add(end);
                } else if (!r.equals("user")) {
                    break;
                }
            }
            if (positions.size() > 1 && !order.isEmpty()) {
                List<JsonNode> results = new java.util.ArrayList<>();
                for (int p : positions) results.add(messages.get(p));
                results.sort(java.util.Comparator.comparingInt(r -> order.getOrDefault(r.path("tool_call_id").asText(""), 0)));
                for (int k = 0; k < positions.size(); k++) messages.set(positions.get(k), results.get(k));
            }
            i = end;
        }
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

    private record Probe(boolean ok, Object messages, Object tools, Marks marks, String output) {}

    private Probe run(JinjaTemplate t, ArrayNode messages, ArrayNode tools) {
        Marks marks = new Marks();
        Object m = TemplateValues.fromJsonDistinct(messages);
        Object tl = TemplateValues.fromJsonDistinct(tools == null ? JsonNodeFactory.instance.arrayNode() : tools);
        Map<String, Object> context = new LinkedHashMap<>();
        context.put("messages", m);
        context.put("tools", tl);
        context.put("bos_token", "");
        context.put("eos_token", "");
        context.put("add_generation_prompt", true);
        String output = "";
        boolean ok;
        try {
            output = t.render(context, limits, now, marks);
            ok = true;
        } catch (TemplateException e) {
            ok = false;
        }
        return new Probe(ok, m, tl, marks, output);
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

    /** jinja::caps_get (llama.cpp 34af94cd): renders small conversations and looks at which values the template read. */
    private Capabilities probe(JinjaTemplate t) {
        boolean stringContent = true;
        boolean typedContent = false;
        boolean systemRole = true;
        boolean tools = true;
        boolean toolCalls = true;
        boolean objectArguments = false;

        String marker = "STRING_MARKER";
        ArrayNode one = JsonNodeFactory.instance.arrayNode().add(msg("user", marker));
        Probe p = run(t, one, null);
        Object content = TemplateValues.at(p.messages, 0, "content");
        boolean usedAsArray = p.marks.hadOp(content, "selectattr") || p.marks.hadOp(content, "array_access");
        if (usedAsArray) typedContent = true;
        if (!p.ok || (usedAsArray && !p.output.contains(marker))) stringContent = false;

        ArrayNode withSystem = JsonNodeFactory.instance.arrayNode().add(msg("system", "System message")).add(msg("user", "User message"));
        p = run(t, withSystem, null);
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
