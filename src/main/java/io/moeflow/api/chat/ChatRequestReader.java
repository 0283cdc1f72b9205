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
import io.moeflow.api.RequestParser;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.Set;

/**
 * Reads the chat fields of a request (HTTP body or Kafka record) the way llama-server's
 * common_chat_msgs_parse_oaicompat and common_chat_tools_parse_oaicompat do, checking each value's type and
 * naming the field in every error: messages (role, content as a string, null or text parts, reasoning_content,
 * name, tool_call_id, tool_calls), tools, chat_template_kwargs and add_generation_prompt.
 */
public final class ChatRequestReader {
    private static final JsonMapper COMPACT = JsonMapper.builder().build();

    private ChatRequestReader() {}

    /** The messages array; {@code maxChars} bounds their characters together. */
    public static List<ChatMessage> messages(JsonNode node, long maxChars) {
        if (node == null || node.isNull()) throw new InvalidRequestException("messages", "\"messages\" is required");
        if (!node.isArray()) throw new InvalidRequestException("messages", "messages must be an array, got " + RequestParser.kind(node));
        if (node.isEmpty()) throw new InvalidRequestException("messages", "messages is empty");
        List<ChatMessage> messages = new ArrayList<>(node.size());
        long chars = 0;
        for (int i = 0; i < node.size(); i++) {
            ChatMessage m = message(node.get(i), "messages[" + i + "]");
            chars += m.chars();
            messages.add(m);
        }
        if (chars > maxChars) {
            throw new InvalidRequestException("messages", "messages has " + chars + " characters, more than the limit of " + maxChars);
        }
        if (messages.stream().allMatch(ChatMessage::isEmpty)) {
            throw new InvalidRequestException("messages", "every message is empty");
        }
        return List.copyOf(messages);
    }

    private static ChatMessage message(JsonNode m, String where) {
        if (!m.isObject()) throw new InvalidRequestException(where, where + " must be an object, got " + RequestParser.kind(m));
        JsonNode role = m.get("role");
        if (role == null || !role.isTextual() || role.textValue().isBlank()) {
            throw new InvalidRequestException(where + ".role", where + ".role must be a non-empty string");
        }
        checkMessageFields((ObjectNode) m, where);
        String content = null;
        List<String> parts = null;
        JsonNode c = m.get("content");
        if (c != null && !c.isNull()) {
            if (c.isTextual()) {
                content = c.textValue();
            } else if (c.isArray()) {
                parts = new ArrayList<>();
                for (int i = 0; i < c.size(); i++) {
                    JsonNode part = c.get(i);
                    JsonNode type = part.get("type");
                    JsonNode text = part.get("text");
                    if (!part.isObject() || type == null || !"text".equals(type.asText()) || text == null || !text.isTextual()) {
                        throw new InvalidRequestException(where + ".content", where + ".content[" + i
                                + "]: only parts of type \"text\" with a string \"text\" are supported");
                    }
                    parts.add(text.textValue());
                }
            } else {
                throw new InvalidRequestException(where + ".content", where + ".content must be a string or an array of text parts (or null), got " + RequestParser.kind(c));
            }
        }
        return new ChatMessage(role.textValue(), content, parts, optionalString(m, "reasoning_content", where),
                optionalString(m, "name", where), optionalString(m, "tool_call_id", where), toolCalls(m.get("tool_calls"), where));
    }

    /** The keys of a message that reach the chat template; the other ones OpenAI defines are refused unless empty. */
    private static final Set<String> MESSAGE_FIELDS = Set.of("role", "content", "reasoning_content", "name", "tool_call_id", "tool_calls");
    private static final Set<String> REFUSED_MESSAGE_FIELDS = Set.of("function_call", "audio", "refusal");

    private static void checkMessageFields(ObjectNode message, String where) {
        for (Iterator<String> names = message.fieldNames(); names.hasNext(); ) {
            String name = names.next();
            if (MESSAGE_FIELDS.contains(name)) continue;
            JsonNode value = message.get(name);
            String param = where + "." + name;
            if (REFUSED_MESSAGE_FIELDS.contains(name)) {
                if (value.isNull() || value.isArray() && value.isEmpty()) continue;
                throw new InvalidRequestException(param, param + " is not supported by moeflow (messages carry role, content,"
                        + " reasoning_content, name, tool_call_id and tool_calls)", "unsupported_parameter");
            }
            throw new InvalidRequestException(param, "Unrecognized request argument supplied: " + param, "unknown_parameter");
        }
    }

    private static List<ChatMessage.ToolCall> toolCalls(JsonNode node, String where) {
        if (node == null || node.isNull()) return List.of();
        String field = where + ".tool_calls";
        if (!node.isArray()) throw new InvalidRequestException(field, field + " must be an array, got " + RequestParser.kind(node));
        List<ChatMessage.ToolCall> calls = new ArrayList<>();
        for (int i = 0; i < node.size(); i++) {
            JsonNode call = node.get(i);
            String at = field + "[" + i + "]";
            if (!call.isObject()) throw new InvalidRequestException(at, at + " must be an object, got " + RequestParser.kind(call));
            JsonNode type = call.get("type");
            if (type == null || !"function".equals(type.asText(null))) {
                throw new InvalidRequestException(at + ".type", at + ".type must be \"function\"");
            }
            JsonNode function = call.get("function");
            if (function == null || !function.isObject()) {
                throw new InvalidRequestException(at + ".function", at + ".function must be an object");
            }
            JsonNode name = function.get("name");
            if (name == null || !name.isTextual() || name.textValue().isEmpty()) {
                throw new InvalidRequestException(at + ".function.name", at + ".function.name must be a non-empty string");
            }
            JsonNode args = function.get("arguments");
            String arguments;
            if (args == null || args.isNull()) {
                arguments = "{}";
            } else if (args.isTextual()) {
                arguments = args.textValue();
            } else {
                arguments = compact(args);
            }
            calls.add(new ChatMessage.ToolCall(optionalString(call, "id", at), name.textValue(), arguments));
        }
        return calls;
    }

    /**
     * tools, chat_template_kwargs and add_generation_prompt of a chat request, and how its reply is read:
     * tool_choice, parallel_tool_calls and reasoning_format.
     */
    public static ChatOptions options(ObjectNode body) {
        ArrayNode tools = tools(body.get("tools"));
        JsonNode choice = body.get("tool_choice");
        ChatOptions.ToolChoice toolChoice = toolChoice(choice, tools);
        String forced = toolChoice == ChatOptions.ToolChoice.FUNCTION ? choice.path("function").path("name").textValue() : null;
        return new ChatOptions(tools, kwargs(body.get("chat_template_kwargs")),
                addGenerationPrompt(body.get("add_generation_prompt")), toolChoice,
                parallelToolCalls(body.get("parallel_tool_calls")), reasoningInline(body.get("reasoning_format")), forced);
    }

    /** "auto", "none", "required" or {"type": "function", "function": {"name": one of the tools}}. */
    private static ChatOptions.ToolChoice toolChoice(JsonNode node, ArrayNode tools) {
        if (node == null || node.isNull()) return ChatOptions.ToolChoice.AUTO;
        String field = "tool_choice";
        if (node.isTextual()) {
            switch (node.textValue()) {
                case "auto" -> { return ChatOptions.ToolChoice.AUTO; }
                case "none" -> { return ChatOptions.ToolChoice.NONE; }
                case "required" -> {
                    if (tools.isEmpty()) throw new InvalidRequestException(field, "tool_choice \"required\" needs tools");
                    return ChatOptions.ToolChoice.REQUIRED;
                }
                default -> throw new InvalidRequestException(field, "tool_choice must be \"auto\", \"none\", \"required\""
                        + " or {\"type\": \"function\", \"function\": {\"name\": ...}}, got \"" + shortText(node.textValue()) + "\"");
            }
        }
        if (!node.isObject()) throw new InvalidRequestException(field, "tool_choice must be a string or an object, got " + RequestParser.kind(node));
        if (!"function".equals(node.path("type").textValue())) {
            throw new InvalidRequestException(field + ".type", "tool_choice.type must be \"function\"");
        }
        JsonNode name = node.path("function").path("name");
        if (!name.isTextual() || name.textValue().isEmpty()) {
            throw new InvalidRequestException(field + ".function.name", "tool_choice.function.name must be a non-empty string");
        }
        for (JsonNode tool : tools) {
            if (name.textValue().equals(tool.path("function").path("name").textValue())) return ChatOptions.ToolChoice.FUNCTION;
        }
        throw new InvalidRequestException(field + ".function.name", "tool_choice.function.name \"" + shortText(name.textValue())
                + "\" is not one of the tools");
    }

    private static boolean parallelToolCalls(JsonNode node) {
        if (node == null || node.isNull()) return true;
        if (!node.isBoolean()) throw new InvalidRequestException("parallel_tool_calls", "parallel_tool_calls must be a boolean, got " + RequestParser.kind(node));
        return node.booleanValue();
    }

    /** llama-server's reasoning_format: "auto" / "deepseek" (reasoning_content) or "none" (inline); true for none. */
    private static boolean reasoningInline(JsonNode node) {
        if (node == null || node.isNull()) return false;
        if (!node.isTextual()) throw new InvalidRequestException("reasoning_format", "reasoning_format must be a string, got " + RequestParser.kind(node));
        return switch (node.textValue()) {
            case "auto", "deepseek" -> false;
            case "none" -> true;
            default -> throw new InvalidRequestException("reasoning_format", "reasoning_format must be \"auto\", \"deepseek\""
                    + " (reasoning in reasoning_content) or \"none\" (reasoning kept inline in content), got \""
                    + shortText(node.textValue()) + "\"");
        };
    }

    private static String shortText(String s) {
        return s.length() > 80 ? s.substring(0, 80) + "..." : s;
    }

    private static boolean addGenerationPrompt(JsonNode node) {
        if (node == null || node.isNull()) return true;
        if (!node.isBoolean()) throw new InvalidRequestException("add_generation_prompt", "add_generation_prompt must be a boolean, got " + RequestParser.kind(node));
        return node.booleanValue();
    }

    private static ObjectNode kwargs(JsonNode node) {
        if (node == null || node.isNull()) return JsonNodeFactory.instance.objectNode();
        if (!node.isObject()) throw new InvalidRequestException("chat_template_kwargs", "chat_template_kwargs must be an object, got " + RequestParser.kind(node));
        JsonNode thinking = node.get("enable_thinking");
        if (thinking != null && thinking.isTextual()) {
            throw new InvalidRequestException("chat_template_kwargs.enable_thinking",
                    "chat_template_kwargs.enable_thinking must be a boolean, got a string");
        }
        return (ObjectNode) node;
    }

    /** The tools, each as {type: "function", function: {name, description, parameters}} (llama.cpp's form). */
    private static ArrayNode tools(JsonNode node) {
        ArrayNode out = JsonNodeFactory.instance.arrayNode();
        if (node == null || node.isNull()) return out;
        if (!node.isArray()) throw new InvalidRequestException("tools", "tools must be an array, got " + RequestParser.kind(node));
        for (int i = 0; i < node.size(); i++) {
            JsonNode tool = node.get(i);
            String at = "tools[" + i + "]";
            if (!tool.isObject()) throw new InvalidRequestException(at, at + " must be an object, got " + RequestParser.kind(tool));
            JsonNode type = tool.get("type");
            if (type == null || !"function".equals(type.asText(null))) {
                throw new InvalidRequestException(at + ".type", at + ".type must be \"function\"");
            }
            JsonNode function = tool.get("function");
            if (function == null || !function.isObject()) throw new InvalidRequestException(at + ".function", at + ".function must be an object");
            JsonNode name = function.get("name");
            if (name == null || !name.isTextual() || name.textValue().isEmpty()) {
                throw new InvalidRequestException(at + ".function.name", at + ".function.name must be a non-empty string");
            }
            JsonNode description = function.get("description");
            if (description != null && !description.isNull() && !description.isTextual()) {
                throw new InvalidRequestException(at + ".function.description", at + ".function.description must be a string");
            }
            JsonNode parameters = function.get("parameters");
            if (parameters != null && !parameters.isNull() && !parameters.isObject()) {
                throw new InvalidRequestException(at + ".function.parameters", at + ".function.parameters must be an object");
            }
            ObjectNode f = JsonNodeFactory.instance.objectNode();
            f.put("name", name.textValue());
            f.put("description", description == null || description.isNull() ? "" : description.textValue());
            f.set("parameters", parameters == null || parameters.isNull() ? JsonNodeFactory.instance.objectNode() : parameters);
            ObjectNode t = out.addObject();
            t.put("type", "function");
            t.set("function", f);
        }
        return out;
    }

    private static String optionalString(JsonNode m, String field, String where) {
        JsonNode v = m.get(field);
        if (v == null || v.isNull()) return null;
        if (!v.isTextual()) throw new InvalidRequestException(where + "." + field, where + "." + field + " must be a string, got " + RequestParser.kind(v));
        return v.textValue();
    }

    private static String compact(JsonNode node) {
        try {
            return COMPACT.writeValueAsString(node);
        } catch (JsonProcessingException e) {
            throw new IllegalStateException(e);
        }
    }

}
