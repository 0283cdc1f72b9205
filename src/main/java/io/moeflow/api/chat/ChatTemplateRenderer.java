package io.moeflow.api.chat;

import com.hubspot.jinjava.Jinjava;
import com.hubspot.jinjava.JinjavaConfig;
import com.hubspot.jinjava.interpret.RenderResult;
import com.hubspot.jinjava.interpret.TemplateError;
import com.hubspot.jinjava.lib.fn.ELFunctionDefinition;
import io.moeflow.api.ChatMessage;
import io.moeflow.api.InvalidRequestException;
import java.time.LocalDate;
import java.time.format.DateTimeFormatter;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Renders chat messages into a prompt with the model's Jinja chat template (tokenizer.chat_template), as Hugging
 * Face's apply_chat_template does: trim_blocks and lstrip_blocks on, variables {@code messages},
 * {@code add_generation_prompt}, {@code bos_token}, {@code eos_token}, and the functions {@code raise_exception}
 * and {@code strftime_now}. Models without a template get {@link #PLAIN_TEMPLATE}.
 */
public final class ChatTemplateRenderer {
    /**
     * The documented template for models without one: one "role: content" line per message, then "assistant:"
     * for the model to continue.
     */
    public static final String PLAIN_TEMPLATE =
            "{% for message in messages %}{{ message['role'] }}: {{ message['content'] }}\n{% endfor %}"
                    + "{% if add_generation_prompt %}assistant:{% endif %}";

    private final Jinjava jinjava;

    /** The message of the template's raise_exception(...) call during the current render (Jinjava hides it). */
    private static final ThreadLocal<String> RAISED = new ThreadLocal<>();

    public ChatTemplateRenderer() {
        JinjavaConfig config = JinjavaConfig.newBuilder()
                .withTrimBlocks(true)
                .withLstripBlocks(true)
                .withFailOnUnknownTokens(false)
                .build();
        jinjava = new Jinjava(config);
        jinjava.getGlobalContext().registerFunction(
                new ELFunctionDefinition("", "raise_exception", ChatTemplateRenderer.class, "raiseException", String.class));
        jinjava.getGlobalContext().registerFunction(
                new ELFunctionDefinition("", "strftime_now", ChatTemplateRenderer.class, "strftimeNow", String.class));
    }

    /**
     * Renders {@code messages} with {@code template} (null or blank: the plain template). A template error or a
     * {@code raise_exception} call becomes an InvalidRequestException naming "messages".
     */
    public String render(String template, List<ChatMessage> messages, String bosToken, String eosToken) {
        String source = template == null || template.isBlank() ? PLAIN_TEMPLATE : template;
        List<Map<String, Object>> list = new ArrayList<>(messages.size());
        for (ChatMessage m : messages) {
            Map<String, Object> map = new LinkedHashMap<>();
            map.put("role", m.role());
            map.put("content", m.content());
            list.add(map);
        }
        Map<String, Object> bindings = new HashMap<>();
        bindings.put("messages", list);
        bindings.put("add_generation_prompt", true);
        bindings.put("bos_token", bosToken == null ? "" : bosToken);
        bindings.put("eos_token", eosToken == null ? "" : eosToken);
        RenderResult result;
        RAISED.remove();
        try {
            result = jinjava.renderForResult(source, bindings);
        } catch (RuntimeException e) {
            throw new InvalidRequestException("messages", "the chat template failed: " + raisedOr(rootMessage(e)));
        }
        String raised = RAISED.get();
        if (raised != null) {
            RAISED.remove();
            throw new InvalidRequestException("messages", "the chat template refused the messages: " + raised);
        }
        for (TemplateError error : result.getErrors()) {
            if (error.getSeverity() == TemplateError.ErrorType.FATAL) {
                throw new InvalidRequestException("messages", "the chat template failed: " + error.getMessage());
            }
        }
        return result.getOutput();
    }

    public static String raiseException(String message) {
        RAISED.set(message);
        throw new TemplateRaisedException(message);
    }

    private static String raisedOr(String otherwise) {
        String raised = RAISED.get();
        RAISED.remove();
        return raised != null ? raised : otherwise;
    }

    public static String strftimeNow(String format) {
        // Templates use it for "today's date" lines; Python's common directives are mapped, others kept as is.
        String pattern = format.replace("%d", "dd").replace("%m", "MM").replace("%Y", "yyyy").replace("%B", "MMMM")
                .replace("%b", "MMM");
        try {
            return LocalDate.now().format(DateTimeFormatter.ofPattern(pattern));
        } catch (IllegalArgumentException e) {
            return LocalDate.now().toString();
        }
    }

    private static String rootMessage(Throwable e) {
        Throwable t = e;
        while (t.getCause() != null && t.getCause() != t) t = t.getCause();
        return t.getMessage() == null ? t.getClass().getSimpleName() : t.getMessage();
    }

    /** What a template's raise_exception(...) throws. */
    static final class TemplateRaisedException extends RuntimeException {
        TemplateRaisedException(String message) {
            super(message);
        }
    }
}
