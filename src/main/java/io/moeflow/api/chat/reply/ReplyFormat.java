package io.moeflow.api.chat.reply;

import java.util.List;

/**
 * How a model family writes tool calls in its generated text, chosen from the chat template the model ships, as
 * llama.cpp's common/chat.cpp chooses its parser from the template's text. The markers are the texts that open and
 * close the calls: a generation that ends in the middle of one is held back while streaming, and control tokens with
 * these texts are rendered into the text that is parsed (llama-server's preserved tokens).
 */
public enum ReplyFormat {
    /** No tool-call syntax known: the text is the content. */
    CONTENT_ONLY(List.of()),
    /**
     * Qwen3 / Qwen2.5 / Hermes: {@code <tool_call>{"name": ..., "arguments": {...}}</tool_call>}, and Qwen3-Coder's
     * {@code <tool_call><function=NAME><parameter=P>value</parameter></function></tool_call>} in the same tags, and
     * GLM-4.5/4.6's {@code <tool_call>NAME<arg_key>K</arg_key><arg_value>V</arg_value></tool_call>}.
     */
    HERMES(List.of("<tool_call>", "</tool_call>")),
    /**
     * DeepSeek-V3 / R1 ({@code <｜tool▁call▁begin｜>function<｜tool▁sep｜>NAME\n```json\n{...}\n```<｜tool▁call▁end｜>})
     * and V3.1 ({@code <｜tool▁call▁begin｜>NAME<｜tool▁sep｜>{...}<｜tool▁call▁end｜>}), inside
     * {@code <｜tool▁calls▁begin｜>...<｜tool▁calls▁end｜>}.
     */
    DEEPSEEK(List.of("<｜tool▁calls▁begin｜>", "<｜tool▁call▁begin｜>", "<｜tool▁sep｜>", "<｜tool▁call▁end｜>", "<｜tool▁calls▁end｜>")),
    /**
     * Kimi-K2: {@code <|tool_calls_section_begin|><|tool_call_begin|>functions.NAME:IDX<|tool_call_argument_begin|>{...}
     * <|tool_call_end|><|tool_calls_section_end|>}; the call's id is its header {@code functions.NAME:IDX}.
     */
    KIMI(List.of("<|tool_calls_section_begin|>", "<|tool_call_begin|>", "<|tool_call_argument_begin|>", "<|tool_call_end|>",
            "<|tool_calls_section_end|>")),
    /**
     * Mistral / Mixtral: {@code [TOOL_CALLS][{"name": ..., "arguments": {...}, "id": ...}]} (v3 tokenizers) or
     * {@code [TOOL_CALLS]NAME[ARGS]{...}} (v11+, also with {@code [CALL_ID]id} before {@code [ARGS]}).
     */
    MISTRAL(List.of("[TOOL_CALLS]", "[ARGS]", "[CALL_ID]")),
    /**
     * gpt-oss harmony: messages {@code <|channel|>analysis<|message|>...<|end|>} (reasoning),
     * {@code <|start|>assistant<|channel|>final<|message|>...} (content) and
     * {@code <|channel|>commentary to=functions.NAME <|constrain|>json<|message|>{...}<|call|>} (a call).
     */
    HARMONY(List.of("<|channel|>", "<|message|>", "<|start|>", "<|constrain|>", "<|end|>"));

    private final List<String> markers;

    ReplyFormat(List<String> markers) {
        this.markers = markers;
    }

    /** The texts of this format's tool-call syntax. */
    public List<String> markers() {
        return markers;
    }

    /** The format of a chat template (null: moeflow's default ChatML template, which has no tool syntax). */
    public static ReplyFormat of(String template) {
        if (template == null) return CONTENT_ONLY;
        if (template.contains("<|channel|>")) return HARMONY;
        if (template.contains("<｜tool▁calls▁begin｜>")) return DEEPSEEK;
        if (template.contains("<|tool_calls_section_begin|>")) return KIMI;
        if (template.contains("[TOOL_CALLS]")) return MISTRAL;
        if (template.contains("<tool_call>")) return HERMES;
        return CONTENT_ONLY;
    }

    /**
     * The tags around reasoning in templates that have them: {@code <think>...</think>} (DeepSeek-R1/V3.1, Qwen3,
     * Kimi-K2-Thinking...) or Mistral's {@code [THINK]...[/THINK]}; null when the template has none (harmony's
     * reasoning is its analysis channel).
     */
    public static ThinkTags thinkTags(String template) {
        if (template == null) return null;
        if (template.contains("[THINK]")) return new ThinkTags("[THINK]", "[/THINK]");
        if (template.contains("<think>") || template.contains("</think>")) return new ThinkTags("<think>", "</think>");
        return null;
    }

    /** The opening and closing tag of reasoning text. */
    public record ThinkTags(String open, String close) {}
}
