package io.moeflow.tokenizer;

import java.util.Arrays;
import java.util.BitSet;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;

/**
 * Token attributes (llama_token_attr) and llama.cpp's text-based special-token rules: which tokens end
 * generation, and which tokens get their type overridden because of their text. The GGUF token types
 * alone are not what llama.cpp uses, and the overrides decide which tokens split the input text.
 */
final class TokenAttributes {
    static final int UNDEFINED = 0;
    static final int UNKNOWN = 1;
    static final int UNUSED = 1 << 1;
    static final int NORMAL = 1 << 2;
    static final int CONTROL = 1 << 3;
    static final int USER_DEFINED = 1 << 4;
    static final int BYTE = 1 << 5;

    /** GGUF tokenizer.ggml.token_type values (llama_token_type). */
    static final int TYPE_NORMAL = 1;
    static final int TYPE_UNKNOWN = 2;
    static final int TYPE_CONTROL = 3;
    static final int TYPE_USER_DEFINED = 4;
    static final int TYPE_UNUSED = 5;
    static final int TYPE_BYTE = 6;

    private static final Set<String> EOT_TEXTS = Set.of("<|eot_id|>", "<|im_end|>", "<|end|>", "<end_of_turn>",
            "<|endoftext|>", "<|end_of_text|>", "<EOT>", "_<EOT>", "[EOT]", "<｜end▁of▁sentence｜>", "<end_of_utterance>");
    private static final Set<String> EOM_TEXTS = Set.of("<|eom_id|>");
    private static final Set<String> FIM_PRE_TEXTS = Set.of("<|fim_prefix|>", "<fim-prefix>", "<fim_prefix>",
            "<｜fim▁begin｜>", "<PRE>", "▁<PRE>", "<|code_prefix|>", "<|prefix|>");
    private static final Set<String> FIM_SUF_TEXTS = Set.of("<|fim_suffix|>", "<fim-suffix>", "<fim_suffix>",
            "<｜fim▁hole｜>", "<SUF>", "▁<SUF>", "<|code_suffix|>", "<|suffix|>");
    private static final Set<String> FIM_MID_TEXTS = Set.of("<|fim_middle|>", "<fim-middle>", "<fim_middle>",
            "<｜fim▁end｜>", "<MID>", "▁<MID>", "<|code_middle|>", "<|middle|>");
    private static final Set<String> FIM_PAD_TEXTS = Set.of("<|fim_pad|>", "<fim-pad>", "<fim_pad>", "<PAD>", "[PAD]");
    private static final Set<String> FIM_REP_TEXTS = Set.of("<|fim_repo|>", "<|repo_name|>", "<fim-repo>", "<REPO>",
            "<reponame>");
    private static final Set<String> FIM_SEP_TEXTS = Set.of("<|file_sep|>");
    /** Texts llama.cpp treats as end of generation whatever the metadata says. */
    private static final Set<String> EOG_TEXTS = Set.of("<|eot_id|>", "<|im_end|>", "<|end|>", "<|return|>",
            "<|call|>", "<|flush|>", "<|calls|>", "<end_of_turn>", "<|endoftext|>", "</s>", "<|eom_id|>", "<EOT>",
            "_<EOT>", "[EOT]", "[EOS]", "<|end_of_text|>", "<end_of_utterance>", "<eos>", "<turn|>",
            "<|tool_response>", "<｜end▁of▁sentence｜>", "[e~[");
    /** gpt-oss (harmony) tokens llama.cpp always renders: forced to USER_DEFINED. */
    private static final Set<String> ALWAYS_RENDERED = Set.of("<|channel|>", "<|message|>", "<|start|>", "<|constrain|>");

    private TokenAttributes() {}

    static int fromType(int type) {
        return switch (type) {
            case TYPE_NORMAL -> NORMAL;
            case TYPE_UNKNOWN -> UNKNOWN;
            case TYPE_CONTROL -> CONTROL;
            case TYPE_USER_DEFINED -> USER_DEFINED;
            case TYPE_UNUSED -> UNUSED;
            case TYPE_BYTE -> BYTE;
            default -> UNDEFINED;
        };
    }

    /** Attributes per token: the GGUF types (all NORMAL when absent) with llama.cpp's text-based overrides. */
    static int[] compute(String[] texts, int[] tokenTypes) {
        int n = texts.length;
        int[] attrs = new int[n];
        for (int i = 0; i < n; i++) {
            attrs[i] = tokenTypes == null ? NORMAL : fromType(tokenTypes[i]);
        }
        Map<String, Integer> ids = index(texts);
        for (int i = 0; i < n; i++) {
            String t = texts[i];
            if (EOT_TEXTS.contains(t) || EOM_TEXTS.contains(t) || isFimText(t) || EOG_TEXTS.contains(t)) {
                attrs[i] |= CONTROL;
            }
            if (ALWAYS_RENDERED.contains(t)) {
                attrs[i] = USER_DEFINED;
            }
        }
        // o200k_harmony / solar-open: "<|end|>" is not an end of generation there and is rendered.
        Integer end = ids.get("<|end|>");
        if (end != null && endIsNotEog(ids)) {
            attrs[end] = USER_DEFINED;
        }
        // gemma4 / paddleocr: "</s>" is an ordinary token when "<|tool_response>" exists.
        Integer s = ids.get("</s>");
        if (s != null && ids.containsKey("<|tool_response>")) {
            attrs[s] = NORMAL;
        }
        return attrs;
    }

    private static boolean isFimText(String t) {
        return FIM_PRE_TEXTS.contains(t) || FIM_SUF_TEXTS.contains(t) || FIM_MID_TEXTS.contains(t)
                || FIM_PAD_TEXTS.contains(t) || FIM_REP_TEXTS.contains(t) || FIM_SEP_TEXTS.contains(t);
    }

    private static boolean endIsNotEog(Map<String, Integer> ids) {
        boolean call = ids.containsKey("<|call|>") || ids.containsKey("<|calls|>");
        return call && (ids.containsKey("<|return|>") || ids.containsKey("<|flush|>"));
    }

    /**
     * The end-of-generation ids as llama.cpp collects them. Ids given as -1 were not in the metadata and
     * are looked up by text (eot, eom, fim pad/rep/sep), as llama.cpp does.
     */
    static int[] eogIds(String[] texts, int eos, int eot, int eom, int fimPad, int fimRep, int fimSep) {
        Map<String, Integer> ids = index(texts);
        eot = eot >= 0 ? eot : firstWithText(texts, EOT_TEXTS);
        eom = eom >= 0 ? eom : firstWithText(texts, EOM_TEXTS);
        fimPad = fimPad >= 0 ? fimPad : firstWithText(texts, FIM_PAD_TEXTS);
        fimRep = fimRep >= 0 ? fimRep : firstWithText(texts, FIM_REP_TEXTS);
        fimSep = fimSep >= 0 ? fimSep : firstWithText(texts, FIM_SEP_TEXTS);
        TreeSet<Integer> eog = new TreeSet<>();
        for (int id : new int[] {fimPad, fimRep, fimSep, eos, eot, eom}) {
            if (id >= 0 && id < texts.length) {
                eog.add(id);
            }
        }
        for (int i = 0; i < texts.length; i++) {
            if (EOG_TEXTS.contains(texts[i])) {
                eog.add(i);
            }
        }
        Integer end = ids.get("<|end|>");
        if (end != null && eog.contains(end) && endIsNotEog(ids)) {
            eog.remove(end);
        }
        Integer s = ids.get("</s>");
        if (s != null && ids.containsKey("<|tool_response>")) {
            eog.remove(s);
        }
        return eog.stream().mapToInt(Integer::intValue).toArray();
    }

    private static int firstWithText(String[] texts, Set<String> candidates) {
        for (int i = 0; i < texts.length; i++) {
            if (candidates.contains(texts[i])) {
                return i;
            }
        }
        return -1;
    }

    private static Map<String, Integer> index(String[] texts) {
        Map<String, Integer> m = new HashMap<>();
        for (String candidate : List.of("<|end|>", "<|call|>", "<|calls|>", "<|return|>", "<|flush|>", "</s>",
                "<|tool_response>")) {
            for (int i = 0; i < texts.length; i++) {
                if (candidate.equals(texts[i])) {
                    m.put(candidate, i);
                    break;
                }
            }
        }
        return m;
    }

    static BitSet toBitSet(int[] ids) {
        BitSet b = new BitSet();
        Arrays.stream(ids).filter(i -> i >= 0).forEach(b::set);
        return b;
    }
}
