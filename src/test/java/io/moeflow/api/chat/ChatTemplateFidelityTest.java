package io.moeflow.api.chat;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.moeflow.api.ChatMessage;
import io.moeflow.api.ChatOptions;
import io.moeflow.api.InvalidRequestException;
import io.moeflow.api.RequestParser;
import io.moeflow.api.chat.jinja.RenderLimits;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.time.LocalDateTime;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/**
 * The real chat templates of src/test/resources/chat-templates (from llama.cpp's models/templates, see NOTICE.md)
 * rendered for each conversation of conversations.json must equal, byte for byte, what derive_expected.py got
 * from Python's jinja2 fed the way llama-server feeds its renderer (expected.json); and the inline templates of
 * llama.cpp's own test-chat-template.cpp must give llama.cpp's expected outputs (llama-cpp-cases.json).
 */
class ChatTemplateFidelityTest {
    private static final String DIR = "/chat-templates/";

    static JsonNode resource(String name) throws IOException {
        try (InputStream in = ChatTemplateFidelityTest.class.getResourceAsStream(DIR + name)) {
            if (in == null) throw new IOException("missing test resource " + DIR + name);
            return RequestParser.JSON.readTree(in);
        }
    }

    static String template(String file) throws IOException {
        try (InputStream in = ChatTemplateFidelityTest.class.getResourceAsStream(DIR + "templates/" + file)) {
            if (in == null) throw new IOException("missing template " + file);
            return new String(in.readAllBytes(), StandardCharsets.UTF_8);
        }
    }

    /** What the renderer gives for a request: the prompt, or the error message prefixed with "ERROR: ". */
    static String outcome(ChatTemplateRenderer renderer, String template, JsonNode request, ChatTemplateRenderer.Tokens tokens) {
        try {
            List<ChatMessage> messages = ChatRequestReader.messages(request.get("messages"), Long.MAX_VALUE);
            ChatOptions options = ChatRequestReader.options((ObjectNode) request);
            return renderer.render(template, messages, options, tokens);
        } catch (InvalidRequestException e) {
            return "ERROR: " + e.getMessage();
        }
    }

    @Test
    void realTemplatesRenderAsJinja2DoesWithLlamaCppsInputs() throws IOException {
        JsonNode expected = resource("expected.json");
        Map<String, JsonNode> templates = new HashMap<>();
        for (JsonNode t : resource("templates.json").get("templates")) templates.put(t.get("file").asText(), t);
        Map<String, JsonNode> conversations = new HashMap<>();
        for (JsonNode c : resource("conversations.json").get("conversations")) conversations.put(c.get("name").asText(), c.get("request"));
        LocalDateTime now = LocalDateTime.parse(expected.get("now").asText());
        ChatTemplateRenderer renderer = new ChatTemplateRenderer(RenderLimits.DEFAULT, () -> now);
        Map<String, String> sources = new HashMap<>();
        int total = 0;
        int same = 0;
        List<String> differences = new ArrayList<>();
        for (JsonNode c : expected.get("cases")) {
            String file = c.get("template").asText();
            JsonNode meta = templates.get(file);
            String source = sources.computeIfAbsent(file, f -> {
                try {
                    return template(f);
                } catch (IOException e) {
                    throw new IllegalStateException(e);
                }
            });
            ChatTemplateRenderer.Tokens tokens = new ChatTemplateRenderer.Tokens(meta.get("bos_token").asText(),
                    meta.get("eos_token").asText(), meta.get("add_bos").asBoolean(), meta.get("add_eos").asBoolean());
            String got = outcome(renderer, source, conversations.get(c.get("conversation").asText()), tokens);
            total++;
            boolean match;
            if (c.has("prompt")) {
                match = got.equals(c.get("prompt").asText());
            } else if (c.has("raised")) {
                match = got.equals("ERROR: the chat template refused the messages: " + c.get("raised").asText());
            } else {
                match = got.startsWith("ERROR: the chat template failed");
            }
            if (match) {
                same++;
            } else {
                differences.add(file + " / " + c.get("conversation").asText() + ": " + firstDifference(c, got));
            }
        }
        System.out.printf("chat templates: %d of %d renderings match jinja2 (%d templates, %d conversations)%n",
                same, total, templates.size(), conversations.size());
        differences.forEach(d -> System.out.println("  differs: " + d));
        assertEquals(total, same, "renderings that differ from jinja2:\n" + String.join("\n", differences));
        assertTrue(total >= 500, "the corpus should hold every template × conversation, found " + total);
    }

    @Test
    void llamaCppsOwnTemplateTestCasesGiveItsExpectedOutputs() throws IOException {
        ChatTemplateRenderer renderer = new ChatTemplateRenderer();
        int total = 0;
        int same = 0;
        List<String> differences = new ArrayList<>();
        for (JsonNode c : resource("llama-cpp-cases.json").get("cases")) {
            ObjectNode request = JsonNodeFactory.instance.objectNode();
            request.set("messages", c.get("messages"));
            String got = outcome(renderer, c.get("template").asText(), request,
                    new ChatTemplateRenderer.Tokens(c.get("bos_token").asText(), c.get("eos_token").asText(), false, false));
            total++;
            if (got.equals(c.get("expected").asText())) {
                same++;
            } else {
                differences.add(c.get("name").asText() + ": got " + abbreviate(got));
            }
        }
        System.out.printf("llama.cpp test-chat-template cases: %d of %d give llama.cpp's expected output%n", same, total);
        assertEquals(total, same, String.join("\n", differences));
        assertTrue(total >= 30);
    }

    private static String firstDifference(JsonNode c, String got) {
        String want = c.has("prompt") ? c.get("prompt").asText() : c.has("raised") ? "ERROR(raised): " + c.get("raised").asText()
                : "ERROR: " + c.get("error").asText();
        int i = 0;
        while (i < want.length() && i < got.length() && want.charAt(i) == got.charAt(i)) i++;
        return "at char " + i + " want " + abbreviate(want.substring(Math.max(0, i - 20)))
                + " got " + abbreviate(got.substring(Math.max(0, Math.min(got.length(), i - 20))));
    }

    private static String abbreviate(String s) {
        String t = s.length() > 160 ? s.substring(0, 160) + "…" : s;
        return "«" + t.replace("\n", "\\n") + "»";
    }
}
