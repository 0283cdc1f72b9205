package io.moeflow.api.testing;

import io.moeflow.api.ModelRuntime;
import io.moeflow.engine.Detokenizer;
import io.moeflow.scheduler.BatchScheduler;
import io.moeflow.scheduler.GenerationEngine;
import io.moeflow.scheduler.SchedulerConfig;
import io.moeflow.tokenizer.Tokenizer;
import io.moeflow.tokenizer.Vocabulary;
import jakarta.enterprise.context.ApplicationScoped;
import jakarta.enterprise.inject.Alternative;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.stream.IntStream;

/**
 * The model runtime of {@link ScriptedModelProfile}: a {@link ScriptedModel} behind the real batch scheduler, with a
 * SentencePiece vocabulary of the 256 byte tokens, "▁" (the space) and the special tokens of the chat families
 * (typed as their GGUFs type them: Qwen's tags user-defined, the tool-call markers of DeepSeek, Kimi and Mistral
 * control tokens, harmony's as in gpt-oss's o200k vocabulary), so any text, markers included, is a token sequence.
 * A test sets the chat template (whose family decides how the reply is read) and the text the model "generates",
 * which is tokenized with special tokens parsed: the model emits those ids, one per step.
 */
@Alternative
@ApplicationScoped
public class ScriptedModelRuntime implements ModelRuntime {
    static final List<String> USER_DEFINED = List.of("<tool_call>", "</tool_call>", "<think>", "</think>");
    static final List<String> CONTROL = List.of("<|im_start|>", "<|im_end|>",
            "<｜begin▁of▁sentence｜>", "<｜end▁of▁sentence｜>", "<｜tool▁calls▁begin｜>", "<｜tool▁call▁begin｜>", "<｜tool▁sep｜>",
            "<｜tool▁call▁end｜>", "<｜tool▁calls▁end｜>",
            "<|tool_calls_section_begin|>", "<|tool_call_begin|>", "<|tool_call_argument_begin|>", "<|tool_call_end|>",
            "<|tool_calls_section_end|>",
            "[TOOL_CALLS]", "[ARGS]", "[CALL_ID]",
            "<|start|>", "<|channel|>", "<|message|>", "<|constrain|>", "<|end|>", "<|return|>", "<|call|>");

    private final Tokenizer tokenizer;
    private final ScriptedModel model;
    private final BatchScheduler scheduler;
    private volatile String template;

    public ScriptedModelRuntime() {
        List<String> tokens = new ArrayList<>(List.of("<unk>", "<s>", "</s>", "\u2581"));
        List<Integer> types = new ArrayList<>(List.of(2, 3, 3, 1));
        for (int b = 0; b < 256; b++) {
            tokens.add(String.format("<0x%02X>", b));
            types.add(6);
        }
        for (String t : USER_DEFINED) {
            tokens.add(t);
            types.add(4);
        }
        for (String t : CONTROL) {
            tokens.add(t);
            types.add(3);
        }
        String[] texts = tokens.toArray(String[]::new);
        float[] scores = new float[texts.length];
        scores[3] = 1f;
        int[] eog = IntStream.range(0, texts.length).filter(i -> List.of("</s>", "<|im_end|>", "<｜end▁of▁sentence｜>",
                "<|return|>", "<|call|>").contains(texts[i])).toArray();
        Vocabulary vocabulary = new Vocabulary("llama", "default", texts, scores, types.stream().mapToInt(Integer::intValue).toArray(),
                null, 1, 2, 0, -1, eog, false, false, false, null);
        tokenizer = Tokenizer.of(vocabulary);
        model = new ScriptedModel(texts.length, 16384, 2);
        scheduler = new BatchScheduler(model, Detokenizer.of(tokenizer), new SchedulerConfig(64L << 20, 512, 8, 64));
    }

    /** The chat template requests are rendered with (and whose family reads the reply); null: moeflow's default. */
    public void template(String template) {
        this.template = template;
    }

    /**
     * What the model generates from now on: the text of {@code pieces} as tokens (special tokens parsed), then
     * {@code end}, an end-of-generation token such as "&lt;|im_end|&gt;" or "&lt;|call|&gt;". Each piece is tokenized
     * on its own, so a marker split over two pieces ("&lt;tool_" + "call&gt;") is generated as several ordinary
     * tokens instead of its special token. Returns the script.
     */
    public int[] generate(String end, String... pieces) {
        List<Integer> ids = new ArrayList<>();
        for (String piece : pieces) {
            for (int id : tokenizer.encode(piece, false, true)) ids.add(id);
        }
        ids.add(tokenizer.encode(end == null ? "</s>" : end, false, true)[0]);
        int[] script = ids.stream().mapToInt(Integer::intValue).toArray();
        model.script(script);
        return script;
    }

    @Override
    public State state() {
        return State.READY;
    }

    @Override
    public Optional<String> failure() {
        return Optional.empty();
    }

    @Override
    public String modelName() {
        return "scripted";
    }

    @Override
    public int contextLength() {
        return 16384;
    }

    @Override
    public int[] encode(String text, boolean addSpecial, boolean parseSpecial) {
        return tokenizer.encode(text, addSpecial, parseSpecial);
    }

    @Override
    public Optional<String> chatTemplate() {
        return Optional.ofNullable(template);
    }

    @Override
    public String bosText() {
        return "<s>";
    }

    @Override
    public String eosText() {
        return "</s>";
    }

    @Override
    public Tokenizer tokenizer() {
        return tokenizer;
    }

    @Override
    public GenerationEngine engine() {
        return scheduler;
    }
}
