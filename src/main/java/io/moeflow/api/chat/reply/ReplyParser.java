package io.moeflow.api.chat.reply;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.json.JsonMapper;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.moeflow.api.ChatMessage;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Splits an assistant's generated text into reasoning, content and tool calls, per {@link ReplyFormat}, the way
 * llama.cpp's chat parsers read each family's output.
 * <p>
 * {@code partial} parses a generation still under way: text that may be the start of a marker, a call that is not
 * closed yet and trailing whitespace are held back, so that every partial result is a prefix of the later ones (the
 * reasoning and the content only grow, calls are only added): what a stream has sent never has to be taken back.
 * A call is reported once it is complete and its arguments are a JSON object; a call that is malformed (arguments
 * that are not JSON, a missing name) or cut off by the end of the generation stays in the content as the text the
 * model wrote, so that nothing is lost.
 */
public final class ReplyParser {
    private static final JsonMapper JSON = JsonMapper.builder().enable(DeserializationFeature.FAIL_ON_TRAILING_TOKENS).build();

    /**
     * How one request's reply is read.
     *
     * @param format            the family's tool-call syntax
     * @param think             the reasoning tags, or null
     * @param thinkingOpen      the prompt ended inside an opened reasoning block (a template that writes "&lt;think&gt;" in its
     *                          generation prompt): the text starts as reasoning
     * @param extractReasoning  reasoning goes to {@link AssistantReply#reasoning()}; false keeps it inline in the content
     *                          as it was generated (reasoning_format "none")
     * @param parseTools        tool calls are parsed (tools given and tool_choice not "none"); otherwise their text is content
     * @param parallelToolCalls false keeps the first call only (parallel_tool_calls false)
     * @param toolParameters    each tool's parameters schema, for the types of Qwen3-Coder's parameter values
     * @param idSeed            makes the generated call ids (unique per request: its id)
     */
    public record Settings(ReplyFormat format, ReplyFormat.ThinkTags think, boolean thinkingOpen, boolean extractReasoning,
                           boolean parseTools, boolean parallelToolCalls, Map<String, JsonNode> toolParameters, String idSeed) {
        public Settings {
            toolParameters = Map.copyOf(toolParameters);
        }

        /** Whether the text is parsed at all (otherwise it is the content as generated, untouched). */
        public boolean parses() {
            return think != null || format == ReplyFormat.HARMONY || parseTools && format != ReplyFormat.CONTENT_ONLY;
        }
    }

    private final Settings settings;

    public ReplyParser(Settings settings) {
        this.settings = settings;
    }

    public Settings settings() {
        return settings;
    }

    /** The reply in {@code text}; {@code partial} while the generation goes on. */
    public AssistantReply parse(String text, boolean partial) {
        if (!settings.parses()) return new AssistantReply("", text, List.of());
        Out out = new Out(partial);
        if (settings.format == ReplyFormat.HARMONY) {
            harmony(text, out);
        } else {
            int rest = think(text, out);
            if (rest >= 0) calls(text.substring(rest), out);
        }
        List<ChatMessage.ToolCall> calls = out.calls;
        if (!settings.parallelToolCalls && calls.size() > 1) calls = calls.subList(0, 1);
        String reasoning = out.reasoning.toString();
        String content = out.content.toString();
        if (settings.format != ReplyFormat.HARMONY) {
            reasoning = reasoning.strip();
            content = content.strip();
        }
        return new AssistantReply(reasoning, content, calls);
    }

    /** The parse under way: what was found, and whether the rest is held back. */
    private static final class Out {
        final boolean partial;
        final StringBuilder reasoning = new StringBuilder();
        final StringBuilder content = new StringBuilder();
        final List<ChatMessage.ToolCall> calls = new ArrayList<>();

        Out(boolean partial) {
            this.partial = partial;
        }

        /** Appends text to the content, holding back an end that may start one of {@code markers} while partial. */
        void content(String text, List<String> markers) {
            content.append(partial ? text.substring(0, text.length() - heldBack(text, markers)) : text);
        }
    }

    // ---- reasoning ----

    /**
     * Takes the reasoning block off the start of {@code text}: returns where the rest begins, or -1 when all of
     * it was taken (reasoning still open, or held back as a possible start of the open tag).
     */
    private int think(String text, Out out) {
        ReplyFormat.ThinkTags tags = settings.think;
        if (tags == null) return 0;
        int start;
        if (settings.thinkingOpen) {
            start = 0;
        } else {
            int i = 0;
            while (i < text.length() && Character.isWhitespace(text.charAt(i))) i++;
            if (text.startsWith(tags.open(), i)) {
                start = i + tags.open().length();
            } else if (out.partial && tags.open().startsWith(text.substring(i))) {
                return -1; // maybe the open tag, still arriving
            } else {
                return 0;
            }
        }
        int end = text.indexOf(tags.close(), start);
        if (end < 0) {
            String reasoning = out.partial ? text.substring(0, text.length() - heldBack(text, List.of(tags.close()))) : text;
            if (settings.extractReasoning) out.reasoning.append(reasoning, Math.min(start, reasoning.length()), reasoning.length());
            else out.content.append(reasoning);
            return -1;
        }
        int rest = end + tags.close().length();
        if (settings.extractReasoning) {
            out.reasoning.append(text, start, end);
        } else {
            out.content.append(text, 0, rest);
        }
        return rest;
    }

    // ---- tool calls ----

    private void calls(String text, Out out) {
        if (!settings.parseTools) {
            out.content(text, List.of());
            return;
        }
        switch (settings.format) {
            case HERMES -> tagged(text, out, "<tool_call>", "</tool_call>");
            case DEEPSEEK -> sections(text, out, "<｜tool▁calls▁begin｜>", "<｜tool▁call▁begin｜>", "<｜tool▁call▁end｜>",
                    "<｜tool▁calls▁end｜>");
            case KIMI -> sections(text, out, "<|tool_calls_section_begin|>", "<|tool_call_begin|>", "<|tool_call_end|>",
                    "<|tool_calls_section_end|>");
            case MISTRAL -> mistral(text, out);
            default -> out.content(text, List.of());
        }
    }

    /** Calls each inside {@code open}...{@code close} (Hermes / Qwen3). */
    private void tagged(String text, Out out, String open, String close) {
        int pos = 0;
        while (true) {
            int i = text.indexOf(open, pos);
            if (i < 0) {
                out.content(text.substring(pos), List.of(open));
                return;
            }
            out.content.append(text, pos, i);
            int j = text.indexOf(close, i + open.length());
            if (j < 0) {
                if (!out.partial) out.content.append(text, i, text.length()); // cut off: the text as written
                return;
            }
            String body = text.substring(i + open.length(), j).strip();
            ChatMessage.ToolCall call = body.startsWith("<function=") ? xmlCall(body, out.calls.size())
                    : body.startsWith("{") ? jsonCall(body, out.calls.size()) : glmCall(body, out.calls.size());
            if (call == null) out.content.append(text, i, j + close.length());
            else out.calls.add(call);
            pos = j + close.length();
        }
    }

    /** {"name": ..., "arguments": {...} or "{...}"}. */
    private ChatMessage.ToolCall jsonCall(String body, int index) {
        JsonNode node = json(body);
        if (node == null || !node.isObject()) return null;
        return namedCall(node, index);
    }

    private ChatMessage.ToolCall namedCall(JsonNode node, int index) {
        JsonNode name = node.get("name");
        if (name == null || !name.isTextual() || name.textValue().isBlank()) return null;
        JsonNode args = node.get("arguments");
        if (args == null) args = node.get("parameters");
        if (args != null && args.isTextual()) args = json(args.textValue());
        if (args == null || !args.isObject()) return null;
        JsonNode id = node.get("id");
        return new ChatMessage.ToolCall(id != null && id.isTextual() && !id.textValue().isEmpty() ? id.textValue() : id(index),
                name.textValue(), compact(args));
    }

    private static final Pattern XML_FUNCTION = Pattern.compile("(?s)<function=([^>\\n]+)>(.*)</function>");
    private static final Pattern XML_PARAMETER = Pattern.compile("(?s)<parameter=([^>\\n]+)>(.*?)</parameter>");

    /** Qwen3-Coder: {@code <function=NAME><parameter=KEY>\nvalue\n</parameter></function>}; values typed by the schema. */
    private ChatMessage.ToolCall xmlCall(String body, int index) {
        Matcher f = XML_FUNCTION.matcher(body);
        if (!f.matches()) return null;
        String name = f.group(1).strip();
        JsonNode schema = settings.toolParameters.get(name);
        ObjectNode args = JsonNodeFactory.instance.objectNode();
        Matcher p = XML_PARAMETER.matcher(f.group(2));
        int end = 0;
        while (p.find()) {
            if (!f.group(2).substring(end, p.start()).isBlank()) return null;
            String value = p.group(2);
            if (value.startsWith("\n")) value = value.substring(1);
            if (value.endsWith("\n")) value = value.substring(0, value.length() - 1);
            String key = p.group(1).strip();
            args.set(key, typed(schema, key, value));
            end = p.end();
        }
        if (!f.group(2).substring(end).isBlank()) return null;
        return new ChatMessage.ToolCall(id(index), name, compact(args));
    }

    /** A parameter's value written as text: JSON when the tool's schema gives it a type other than string. */
    private static JsonNode typed(JsonNode schema, String key, String value) {
        JsonNode type = schema == null ? null : schema.path("properties").path(key).get("type");
        JsonNode typed = type == null || "string".equals(type.asText()) ? null : json(value);
        return typed != null ? typed : JsonNodeFactory.instance.textNode(value);
    }

    private static final Pattern GLM_ARGUMENT = Pattern.compile("(?s)\\s*<arg_key>(.*?)</arg_key>\\s*<arg_value>(.*?)</arg_value>");

    /** GLM-4.5/4.6/4.7: {@code NAME\n<arg_key>KEY</arg_key>\n<arg_value>value</arg_value>...}; values typed by the schema. */
    private ChatMessage.ToolCall glmCall(String body, int index) {
        int first = body.indexOf("<arg_key>");
        String name = (first < 0 ? body : body.substring(0, first)).strip();
        if (name.isEmpty() || name.contains("<") || name.contains("\n")) return null;
        JsonNode schema = settings.toolParameters.get(name);
        ObjectNode args = JsonNodeFactory.instance.objectNode();
        if (first >= 0) {
            Matcher m = GLM_ARGUMENT.matcher(body);
            m.region(first, body.length());
            int end = first;
            while (m.lookingAt()) {
                String key = m.group(1).strip();
                args.set(key, typed(schema, key, m.group(2)));
                end = m.end();
                m.region(end, body.length());
            }
            if (!body.substring(end).isBlank()) return null;
        }
        return new ChatMessage.ToolCall(id(index), name, compact(args));
    }

    /** Sections of calls (DeepSeek, Kimi): {@code begin (callBegin body callEnd)* end}. */
    private void sections(String text, Out out, String begin, String callBegin, String callEnd, String end) {
        int pos = 0;
        while (true) {
            int i = text.indexOf(begin, pos);
            if (i < 0) {
                out.content(text.substring(pos), List.of(begin));
                return;
            }
            out.content.append(text, pos, i);
            int p = i + begin.length();
            int callsBefore = out.calls.size();
            while (true) {
                int q = p;
                while (q < text.length() && Character.isWhitespace(text.charAt(q))) q++;
                if (text.startsWith(end, q)) {
                    p = q + end.length();
                    break;
                }
                if (text.startsWith(callBegin, q)) {
                    int e = text.indexOf(callEnd, q + callBegin.length());
                    if (e < 0) {
                        // cut off: the text as written, from the section's start when none of its calls came through
                        if (!out.partial) out.content.append(text, out.calls.size() == callsBefore ? i : q, text.length());
                        return;
                    }
                    String body = text.substring(q + callBegin.length(), e);
                    ChatMessage.ToolCall call = settings.format == ReplyFormat.KIMI ? kimiCall(body, out.calls.size())
                            : deepSeekCall(body, out.calls.size());
                    if (call == null) out.content.append(text, q, e + callEnd.length());
                    else out.calls.add(call);
                    p = e + callEnd.length();
                    continue;
                }
                String tail = text.substring(q);
                if (out.partial && (callBegin.startsWith(tail) || end.startsWith(tail))) return; // the next marker, arriving
                p = q; // the section ends without its closing marker: what follows is content
                break;
            }
            pos = p;
        }
    }

    private static final String DEEPSEEK_SEP = "<｜tool▁sep｜>";

    /** {@code function<｜tool▁sep｜>NAME\n```json\n{...}\n```} (V3, R1) or {@code NAME<｜tool▁sep｜>{...}} (V3.1). */
    private ChatMessage.ToolCall deepSeekCall(String body, int index) {
        int sep = body.indexOf(DEEPSEEK_SEP);
        if (sep < 0) return null;
        String head = body.substring(0, sep).strip();
        String after = body.substring(sep + DEEPSEEK_SEP.length());
        String name;
        String args;
        int fence = after.indexOf("```");
        if ("function".equals(head) && fence >= 0) {
            name = after.substring(0, fence).strip();
            int open = after.indexOf('\n', fence);
            int close = after.lastIndexOf("```");
            if (open < 0 || close <= open) return null;
            args = after.substring(open + 1, close);
        } else {
            name = head;
            args = after;
        }
        return call(id(index), name, args);
    }

    /** {@code functions.NAME:IDX<|tool_call_argument_begin|>{...}}: the header is the id, as llama.cpp keeps it. */
    private ChatMessage.ToolCall kimiCall(String body, int index) {
        int arg = body.indexOf("<|tool_call_argument_begin|>");
        if (arg < 0) return null;
        String header = body.substring(0, arg).strip();
        String name = header.startsWith("functions.") ? header.substring("functions.".length()) : header;
        int colon = name.lastIndexOf(':');
        if (colon >= 0) name = name.substring(0, colon);
        return call(header.isEmpty() ? id(index) : header, name, body.substring(arg + "<|tool_call_argument_begin|>".length()));
    }

    /** [TOOL_CALLS] followed by a JSON array of calls, or by NAME([CALL_ID]id)?[ARGS]{...}; repeated. */
    private void mistral(String text, Out out) {
        String marker = "[TOOL_CALLS]";
        int pos = 0;
        while (true) {
            int i = text.indexOf(marker, pos);
            if (i < 0) {
                out.content(text.substring(pos), List.of(marker));
                return;
            }
            out.content.append(text, pos, i);
            int p = i + marker.length();
            while (p < text.length() && Character.isWhitespace(text.charAt(p))) p++;
            if (p == text.length()) {
                if (!out.partial) out.content.append(text, i, text.length());
                return;
            }
            int end;
            if (text.charAt(p) == '[' && !text.startsWith("[ARGS]", p) && !text.startsWith("[CALL_ID]", p)) {
                end = jsonEnd(text, p);
                if (end == -1 && out.partial) return;
                List<ChatMessage.ToolCall> calls = end < 0 ? null : mistralArray(text.substring(p, end), out.calls.size());
                if (calls == null) {
                    if (end < 0) {
                        out.content.append(text, i, text.length());
                        return;
                    }
                    out.content.append(text, i, end);
                } else {
                    out.calls.addAll(calls);
                }
            } else {
                int args = text.indexOf("[ARGS]", p);
                int brace = args < 0 ? -1 : args + "[ARGS]".length();
                end = brace < 0 ? -1 : jsonEnd(text, brace);
                if (end == -1 && out.partial) return;
                if (end < 0) {
                    out.content.append(text, i, text.length());
                    return;
                }
                String head = text.substring(p, args);
                String id = null;
                int callId = head.indexOf("[CALL_ID]");
                if (callId >= 0) {
                    id = head.substring(callId + "[CALL_ID]".length()).strip();
                    head = head.substring(0, callId);
                }
                ChatMessage.ToolCall call = call(id == null || id.isEmpty() ? id(out.calls.size()) : id, head.strip(),
                        text.substring(brace, end));
                if (call == null) out.content.append(text, i, end);
                else out.calls.add(call);
            }
            pos = end;
        }
    }

    private List<ChatMessage.ToolCall> mistralArray(String array, int index) {
        JsonNode node = json(array);
        if (node == null || !node.isArray() || node.isEmpty()) return null;
        List<ChatMessage.ToolCall> calls = new ArrayList<>();
        for (JsonNode c : node) {
            ChatMessage.ToolCall call = c.isObject() ? namedCall(c, index + calls.size()) : null;
            if (call == null) return null;
            calls.add(call);
        }
        return calls;
    }

    /**
     * End (exclusive) of the JSON object or array that starts at {@code start}: -1 when it is not complete yet,
     * -2 when it does not start with one or closes a bracket it did not open.
     */
    static int jsonEnd(String s, int start) {
        while (start < s.length() && Character.isWhitespace(s.charAt(start))) start++;
        if (start == s.length()) return -1;
        if (s.charAt(start) != '{' && s.charAt(start) != '[') return -2;
        int depth = 0;
        boolean string = false;
        boolean escaped = false;
        for (int i = start; i < s.length(); i++) {
            char c = s.charAt(i);
            if (string) {
                if (escaped) escaped = false;
                else if (c == '\\') escaped = true;
                else if (c == '"') string = false;
            } else if (c == '"') {
                string = true;
            } else if (c == '{' || c == '[') {
                depth++;
            } else if (c == '}' || c == ']') {
                if (--depth == 0) return i + 1;
            }
        }
        return -1;
    }

    // ---- harmony ----

    private static final Pattern HARMONY_HEADER = Pattern.compile(
            "(?s)(?:<\\|start\\|>)?(?:assistant)?\\s*(?:to=(\\S+?))?\\s*<\\|channel\\|>(\\w+)(?:\\s*to=([^\\s<]+))?\\s*(?:<\\|constrain\\|>)?\\s*(\\w+)?\\s*");
    private static final List<String> HARMONY_ENDS = List.of("<|end|>", "<|call|>", "<|return|>");

    /**
     * gpt-oss: messages of a header ({@code <|channel|>NAME}, maybe {@code to=functions.NAME} and a content type)
     * and a body up to {@code <|end|>}, {@code <|call|>} or {@code <|return|>} (the last two end the generation and
     * are not in the text). The prompt ended with {@code <|start|>assistant}, so the text starts with a header;
     * text that does not is content as it is.
     */
    private void harmony(String text, Out out) {
        int pos = 0;
        while (pos < text.length()) {
            int m = text.indexOf("<|message|>", pos);
            String headerStart = text.substring(pos, m < 0 ? text.length() : m);
            if (m < 0) {
                if (out.partial && mayStartHeader(headerStart)) return;
                out.content(text.substring(pos), List.of());
                return;
            }
            Matcher h = HARMONY_HEADER.matcher(headerStart);
            if (!h.matches()) {
                out.content(text.substring(pos), List.of());
                return;
            }
            String channel = h.group(2);
            String recipient = h.group(1) != null ? h.group(1) : h.group(3);
            int bodyStart = m + "<|message|>".length();
            int bodyEnd = -1;
            String endMarker = "";
            for (String e : HARMONY_ENDS) {
                int k = text.indexOf(e, bodyStart);
                if (k >= 0 && (bodyEnd < 0 || k < bodyEnd)) {
                    bodyEnd = k;
                    endMarker = e;
                }
            }
            boolean complete = bodyEnd >= 0 || !out.partial;
            if (bodyEnd < 0) bodyEnd = out.partial ? text.length() - heldBack(text, HARMONY_ENDS) : text.length();
            String body = text.substring(bodyStart, Math.max(bodyStart, bodyEnd));
            int next = bodyEnd < 0 ? text.length() : bodyEnd + endMarker.length();
            if (recipient != null) {
                if (!complete) return;
                ChatMessage.ToolCall call = settings.parseTools && recipient.startsWith("functions.")
                        ? call(id(out.calls.size()), recipient.substring("functions.".length()), body) : null;
                if (call == null) out.content.append(text, pos, Math.min(next, text.length()));
                else out.calls.add(call);
            } else if ("analysis".equals(channel)) {
                if (settings.extractReasoning) out.reasoning.append(body);
                else out.content.append(text, pos, complete ? Math.min(next, text.length()) : bodyStart + body.length());
            } else {
                out.content.append(body);
            }
            if (!complete) return;
            pos = next;
        }
    }

    /** Whether {@code s} may still become a message header ({@code <|start|>assistant...<|channel|>...}). */
    private static boolean mayStartHeader(String s) {
        String t = s.stripLeading();
        return t.isEmpty() || t.startsWith("<|start|>") || t.startsWith("<|channel|>") || t.startsWith("to=")
                || t.startsWith("assistant") || "<|start|>".startsWith(t) || "<|channel|>".startsWith(t)
                || "assistant".startsWith(t);
    }

    // ---- shared ----

    /** A call whose arguments must be a JSON object; null when they are not, or the name is empty. */
    private static ChatMessage.ToolCall call(String id, String name, String arguments) {
        if (name == null || name.isBlank()) return null;
        JsonNode args = json(arguments.strip());
        if (args == null || !args.isObject()) return null;
        return new ChatMessage.ToolCall(id, name.strip(), compact(args));
    }

    private static JsonNode json(String text) {
        try {
            return JSON.readTree(text);
        } catch (JsonProcessingException e) {
            return null;
        }
    }

    private static String compact(JsonNode node) {
        try {
            return JSON.writeValueAsString(node);
        } catch (JsonProcessingException e) {
            throw new IllegalStateException(e);
        }
    }

    /** Characters at the end of {@code text} that are a proper start of one of {@code markers}. */
    static int heldBack(String text, List<String> markers) {
        int held = 0;
        for (String m : markers) {
            for (int k = Math.min(m.length() - 1, text.length()); k > held; k--) {
                if (text.regionMatches(text.length() - k, m, 0, k)) {
                    held = k;
                    break;
                }
            }
        }
        return held;
    }

    private static final String ALPHANUMERIC = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";

    /**
     * The id of the {@code index}-th call: derived from the request's id, so that a streamed and a whole answer
     * name a call alike. Mistral's templates require 9 alphanumeric characters; the others get "call_" and 24.
     */
    private String id(int index) {
        byte[] hash;
        try {
            hash = MessageDigest.getInstance("SHA-256").digest((settings.idSeed + "#" + index).getBytes(StandardCharsets.UTF_8));
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
        int n = settings.format == ReplyFormat.MISTRAL ? 9 : 24;
        StringBuilder id = new StringBuilder(settings.format == ReplyFormat.MISTRAL ? "" : "call_");
        for (int i = 0; i < n; i++) id.append(ALPHANUMERIC.charAt((hash[i] & 0xff) % ALPHANUMERIC.length()));
        return id.toString();
    }
}
