package io.moeflow.api.chat;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.moeflow.api.ChatMessage;
import io.moeflow.api.InvalidRequestException;
import java.util.List;
import org.junit.jupiter.api.Test;

class ChatTemplateRendererTest {
    private final ChatTemplateRenderer renderer = new ChatTemplateRenderer();
    private final List<ChatMessage> messages = List.of(
            new ChatMessage("system", "Be brief."), new ChatMessage("user", "Hi!"));

    /** Qwen/ChatML's template as its GGUF files carry it (the common case). */
    private static final String CHATML = """
            {% for message in messages %}{{'<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}""";

    @Test
    void rendersChatMlLikeTransformers() {
        // What transformers' apply_chat_template(add_generation_prompt=True) gives for this template.
        String expected = "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi!<|im_end|>\n<|im_start|>assistant\n";
        assertEquals(expected, renderer.render(CHATML, messages, "", "<|im_end|>"));
    }

    @Test
    void trimsBlocksAndUsesSpecialTokensAndLoopState() {
        String llama2 = """
                {{ bos_token }}
                {% for message in messages %}
                    {% if loop.first and message['role'] == 'system' %}[SYS]{{ message['content'] | trim }}[/SYS]
                    {% else %}[{{ message['role'] | upper }}]{{ message['content'].strip() }}{{ eos_token if loop.last }}
                    {% endif %}
                {% endfor %}""";
        assertEquals("<s>\n[SYS]Be brief.[/SYS]\n[USER]Hi!</s>\n", renderer.render(llama2, messages, "<s>", "</s>"));
    }

    @Test
    void raiseExceptionBecomesABadRequest() {
        String strict = "{% if messages[0]['role'] != 'user' %}{{ raise_exception('Conversations must start with a user message') }}{% endif %}ok";
        InvalidRequestException e = assertThrows(InvalidRequestException.class, () -> renderer.render(strict, messages, "", ""));
        assertEquals("messages", e.param());
        assertTrue(e.getMessage().contains("Conversations must start with a user message"), e.getMessage());
        assertEquals("ok", renderer.render(strict, List.of(new ChatMessage("user", "x")), "", ""));
    }

    @Test
    void modelsWithoutATemplateGetThePlainOne() {
        assertEquals("system: Be brief.\nuser: Hi!\nassistant:", renderer.render(null, messages, "<s>", "</s>"));
        assertEquals(renderer.render(ChatTemplateRenderer.PLAIN_TEMPLATE, messages, "", ""), renderer.render("  ", messages, "", ""));
    }
}
