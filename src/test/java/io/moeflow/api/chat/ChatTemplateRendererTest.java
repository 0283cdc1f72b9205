package io.moeflow.api.chat;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.node.ObjectNode;
import io.moeflow.api.ChatMessage;
import io.moeflow.api.ChatOptions;
import io.moeflow.api.InvalidRequestException;
import io.moeflow.api.RequestParser;
import java.io.IOException;
import java.util.List;
import org.junit.jupiter.api.Test;

/**
 * llama-server's handling around the template: chatml for models without one, the Mixtral system-prompt fold,
 * BOS/EOS stripping, the request fields that reach the template, and errors as 400s naming "messages".
 * (Whole renderings of real templates are checked by {@link ChatTemplateFidelityTest}.)
 */
class ChatTemplateRendererTest {
    private final ChatTemplateRenderer renderer = new ChatTemplateRenderer();
    private static final ChatTemplateRenderer.Tokens NO_TOKENS = new ChatTemplateRenderer.Tokens("", "", false, false);
    private final List<ChatMessage> systemAndUser = List.of(new ChatMessage("system", "Be brief."), new ChatMessage("user", "Hi!"));

    private static String render(ChatTemplateRenderer r, String template, String requestJson, ChatTemplateRenderer.Tokens tokens) {
        ObjectNode body = RequestParser.parseObject(requestJson);
        return r.render(template, ChatRequestReader.messages(body.get("messages"), Long.MAX_VALUE), ChatRequestReader.options(body), tokens);
    }

    @Test
    void modelsWithoutATemplateGetLlamaCppsChatml() {
        String expected = "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi!<|im_end|>\n<|im_start|>assistant\n";
        assertEquals(expected, renderer.render(null, systemAndUser, ChatOptions.DEFAULT, NO_TOKENS));
        assertEquals(expected, renderer.render("  \n", systemAndUser, ChatOptions.DEFAULT, NO_TOKENS));
        ChatOptions noPrompt = new ChatOptions(null, null, false);
        assertEquals("<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi!<|im_end|>\n",
                renderer.render(null, systemAndUser, noPrompt, NO_TOKENS));
    }

    /** llama.cpp's system_message_not_supported: "system\nfirst user", exactly (common/chat.cpp). */
    @Test
    void mixtralsOriginalTemplateGetsTheSystemPromptFoldedIntoTheFirstUserTurn() throws IOException {
        String mixtral = ChatTemplateFidelityTest.template("mistralai-Mixtral-8x7B-Instruct-v0.1-original.jinja");
        assertFalse(renderer.capabilities(mixtral).systemRole());
        ChatTemplateRenderer.Tokens mistral = new ChatTemplateRenderer.Tokens("<s>", "</s>", true, false);
        String multi = """
                {"messages":[{"role":"system","content":"Be brief."},{"role":"user","content":"Hi!"},
                  {"role":"assistant","content":"Hello."},{"role":"user","content":"Bye"}]}""";
        assertEquals("[INST] Be brief.\nHi! [/INST]Hello.</s>[INST] Bye [/INST]", render(renderer, mixtral, multi, mistral));
        // A lone system message is dropped, as llama.cpp does, rather than refused.
        assertEquals("", render(renderer, mixtral, "{\"messages\":[{\"role\":\"system\",\"content\":\"Be brief.\"}]}", mistral));
        // Templates that take a system message keep it.
        String v1 = ChatTemplateFidelityTest.template("mistralai-Mixtral-8x7B-Instruct-v0.1-v1.jinja");
        assertTrue(renderer.capabilities(v1).systemRole());
        assertEquals(" [INST] Be brief.\n\nHi! [/INST] Hello.</s> [INST] Bye [/INST]", render(renderer, v1, multi, mistral));
    }

    @Test
    void theLeadingBosIsCutWhenTheTokenizerAddsItAndKeptOtherwise() {
        String t = "{{ bos_token }}{% for m in messages %}{{ m.content }}{% endfor %}{{ eos_token }}";
        List<ChatMessage> hi = List.of(new ChatMessage("user", "hi"));
        assertEquals("hi</s>", renderer.render(t, hi, ChatOptions.DEFAULT, new ChatTemplateRenderer.Tokens("<s>", "</s>", true, false)));
        assertEquals("<s>hi</s>", renderer.render(t, hi, ChatOptions.DEFAULT, new ChatTemplateRenderer.Tokens("<s>", "</s>", false, false)));
        assertEquals("hi", renderer.render(t, hi, ChatOptions.DEFAULT, new ChatTemplateRenderer.Tokens("<s>", "</s>", true, true)));
    }

    @Test
    void toolsToolCallsReasoningAndKwargsReachTheTemplate() {
        String t = "{{ tools | tojson }}|{% for m in messages %}{{ m.role }}:{{ m.content }}"
                + "{% if m.reasoning_content %}[r={{ m.reasoning_content }}]{% endif %}"
                + "{% for c in m.tool_calls or [] %}[{{ c.id }} {{ c.function.name }}{% for k, v in c.function.arguments|items %} {{ k }}={{ v }}{% endfor %}]{% endfor %}"
                + "{% if m.tool_call_id %}[for {{ m.tool_call_id }}]{% endif %};{% endfor %}|{{ enable_thinking }}|{{ flavour }}";
        String request = """
                {"messages":[{"role":"user","content":"Weather?"},
                  {"role":"assistant","content":null,"reasoning_content":"look it up","tool_calls":[
                    {"id":"c1","type":"function","function":{"name":"weather","arguments":"{\\"city\\":\\"Oslo\\"}"}}]},
                  {"role":"tool","tool_call_id":"c1","content":"-3"}],
                 "tools":[{"type":"function","function":{"name":"weather","parameters":{"type":"object"}}}],
                 "chat_template_kwargs":{"enable_thinking":false,"flavour":"mint"}}""";
        assertEquals("[{\"type\": \"function\", \"function\": {\"name\": \"weather\", \"description\": \"\", \"parameters\": {\"type\": \"object\"}}}]"
                        + "|user:Weather?;assistant:[r=look it up][c1 weather city=Oslo];tool:-3[for c1];|False|mint",
                render(renderer, t, request, NO_TOKENS));
    }

    @Test
    void argumentsStayTextForTemplatesThatPrintThemAsText() {
        String deepseek = "{% for m in messages %}{% for c in m.tool_calls or [] %}{{ c.function.name + ':' + c.function.arguments }}{% endfor %}{% endfor %}";
        assertFalse(renderer.capabilities(deepseek).objectArguments());
        String request = """
                {"messages":[{"role":"user","content":"x"},{"role":"assistant","tool_calls":[
                  {"type":"function","function":{"name":"f","arguments":{"a":1}}}]}]}""";
        assertEquals("f:{\"a\":1}", render(renderer, deepseek, request, NO_TOKENS));
    }

    @Test
    void templateFailuresAreBadRequestsNamingMessages() {
        String strict = "{% if messages[-1]['role'] != 'user' %}{{ raise_exception('The last message must come from the user') }}{% endif %}"
                + "{% for m in messages %}{{ m.content }}{% endfor %}";
        List<ChatMessage> endsWithAssistant = List.of(new ChatMessage("user", "x"), new ChatMessage("assistant", "y"));
        InvalidRequestException refused = assertThrows(InvalidRequestException.class,
                () -> renderer.render(strict, endsWithAssistant, ChatOptions.DEFAULT, NO_TOKENS));
        assertEquals("messages", refused.param());
        assertEquals("the chat template refused the messages: The last message must come from the user", refused.getMessage());
        assertEquals("x", renderer.render(strict, List.of(new ChatMessage("user", "x")), ChatOptions.DEFAULT, NO_TOKENS));

        InvalidRequestException failed = assertThrows(InvalidRequestException.class,
                () -> renderer.render("{{ messages[0].content + 1 }}", systemAndUser, ChatOptions.DEFAULT, NO_TOKENS));
        assertEquals("the chat template failed: can only concatenate str (not \"int\") to str (template line 1)", failed.getMessage());

        InvalidRequestException broken = assertThrows(InvalidRequestException.class,
                () -> renderer.render("{% for m in messages %}", systemAndUser, ChatOptions.DEFAULT, NO_TOKENS));
        assertTrue(broken.getMessage().startsWith("the model's chat template cannot be parsed: unexpected end of template"), broken.getMessage());

        InvalidRequestException include = assertThrows(InvalidRequestException.class,
                () -> renderer.render("{% include 'other.jinja' %}", systemAndUser, ChatOptions.DEFAULT, NO_TOKENS));
        assertTrue(include.getMessage().contains("'include' tag is not supported"), include.getMessage());
    }

    @Test
    void badChatFieldsAreRefusedNamingTheField() {
        assertField("{\"messages\":[{\"role\":\"assistant\",\"tool_calls\":[{\"type\":\"function\",\"function\":{}}]}]}",
                "messages[0].tool_calls[0].function.name");
        assertField("{\"messages\":[{\"role\":\"assistant\",\"tool_calls\":[{\"function\":{\"name\":\"f\"}}]}]}",
                "messages[0].tool_calls[0].type");
        assertField("{\"messages\":[{\"role\":\"user\",\"content\":\"x\",\"reasoning_content\":1}]}", "messages[0].reasoning_content");
        assertField("{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"tools\":{}}", "tools");
        assertField("{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"tools\":[{\"type\":\"function\",\"function\":{\"name\":\"f\",\"parameters\":[]}}]}",
                "tools[0].function.parameters");
        assertField("{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"chat_template_kwargs\":[]}", "chat_template_kwargs");
        assertField("{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"chat_template_kwargs\":{\"enable_thinking\":\"no\"}}",
                "chat_template_kwargs.enable_thinking");
        assertField("{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"add_generation_prompt\":\"yes\"}", "add_generation_prompt");
    }

    private static void assertField(String json, String field) {
        ObjectNode body = RequestParser.parseObject(json);
        InvalidRequestException e = assertThrows(InvalidRequestException.class, () -> {
            ChatRequestReader.messages(body.get("messages"), Long.MAX_VALUE);
            ChatRequestReader.options(body);
        });
        assertEquals(field, e.param(), e.getMessage());
    }
}
