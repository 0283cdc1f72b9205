package io.moeflow.tokenizer;

import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Splits text into the words byte-level BPE merges within, exactly as llama.cpp's unicode_regex_split:
 * the regexes of a pre-tokenizer type run one after the other, each one splitting the pieces of the
 * previous one further (text between matches stays a piece of its own). Some regexes (GPT-2's, Llama 3's,
 * Qwen2's, Qwen3.5's) and two names that are no regexes (Kimi-K2's, AFMoE's digits) have hand-written
 * matchers in llama.cpp; other regexes run on a "collapsed" text where every non-ASCII code point is
 * replaced by one stand-in character per Unicode category, with \p{..} in the regex rewritten to match
 * those stand-ins. Both are reproduced here, quirks included, because the token ids must equal llama.cpp's.
 * EXAONE-MoE's regex also has a hand-written matcher here (java.util.regex cannot run it on long text).
 */
final class PreTokenizer {
    static final String GPT2_REGEX = "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)";
    static final String LLAMA3_REGEX = "(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])"
            + "|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
    static final String QWEN2_REGEX = "(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])"
            + "|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
    /** Qwen2's with combining marks inside letter runs ([\p{L}\p{M}]+). */
    static final String QWEN35_REGEX = "(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])"
            + "|[^\\r\\n\\p{L}\\p{N}]?[\\p{L}\\p{M}]+|\\p{N}| ?[^\\s\\p{L}\\p{M}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
    private static final String CONTRACTIONS = "(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])";
    private static final String GPT4O_REGEX =
            "[^\\r\\n\\p{L}\\p{N}]?((?=[\\p{L}])([^a-z]))*((?=[\\p{L}])([^A-Z]))+" + CONTRACTIONS + "?"
            + "|[^\\r\\n\\p{L}\\p{N}]?((?=[\\p{L}])([^a-z]))+((?=[\\p{L}])([^A-Z]))*" + CONTRACTIONS + "?"
            + "|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n/]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
    /** GPT-4o's without the contractions and with single digits (Mistral's tekken). */
    private static final String TEKKEN_REGEX =
            "[^\\r\\n\\p{L}\\p{N}]?((?=[\\p{L}])([^a-z]))*((?=[\\p{L}])([^A-Z]))+"
            + "|[^\\r\\n\\p{L}\\p{N}]?((?=[\\p{L}])([^a-z]))+((?=[\\p{L}])([^A-Z]))*"
            + "|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n/]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
    /**
     * Cohere's (tiny_aya, cohere2moe): GPT-4o's with the case classes written as \p{Lu}.. \p{Ll}..; llama.cpp maps
     * all of them to "any letter", so unlike GPT-4o's lookahead form this does not split at case changes.
     */
    private static final String TINY_AYA_REGEX =
            "[^\\r\\n\\p{L}\\p{N}]?[\\p{Lu}\\p{Lt}\\p{Lm}\\p{Lo}\\p{M}]*[\\p{Ll}\\p{Lm}\\p{Lo}\\p{M}]+" + CONTRACTIONS + "?"
            + "|[^\\r\\n\\p{L}\\p{N}]?[\\p{Lu}\\p{Lt}\\p{Lm}\\p{Lo}\\p{M}]+[\\p{Ll}\\p{Lm}\\p{Lo}\\p{M}]*" + CONTRACTIONS + "?"
            + "|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n/]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
    /** Possessive quantifiers of the original (?+, ++) made greedy, as llama.cpp does; note \s*[\r\n] (one newline). */
    private static final String BAILINGMOE_REGEX = "'(?:[sSdDmMtT]|[lL][lL]|[vV][eE]|[rR][eE])"
            + "|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]|\\s+(?!\\S)|\\s+";
    /**
     * Letter runs may contain single spaces between letters: "(?: \p{L}\p{M}*)*". llama.cpp runs it with std::regex;
     * here a hand-written matcher does (java.util.regex recurses once per letter in that nested group and overflows
     * the stack on a few thousand letters, which is an ordinary sentence for this regex).
     */
    static final String EXAONE_MOE_REGEX = CONTRACTIONS
            + "|[^\\r\\n\\p{L}\\p{N}]?(?:\\p{L}\\p{M}*(?: \\p{L}\\p{M}*)*)+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n/]?"
            + "|\\s*[\\r\\n]|\\s+(?!\\S)|\\s+";
    /** DeepSeek-V3's third regex, also AFMoE's last. */
    private static final String DEEPSEEK_V3_MAIN_REGEX =
            "[!\"#$%&'()*+,\\-./:;<=>?@\\[\\\\\\]^_`{|}~][A-Za-z]+|[^\r\n\\p{L}\\p{P}\\p{S}]?[\\p{L}\\p{M}]+"
                    + "| ?[\\p{P}\\p{S}]+[\r\n]*|\\s*[\r\n]+|\\s+(?!\\S)|\\s+";
    /**
     * Not regexes: names llama.cpp gives its hand-written splitters for Kimi-K2 (all of K2's pattern, Han runs
     * first) and AFMoE's digit grouping, which Cohere's "\d{1,3}(?=(?:\d{3})*\b)" is also routed to.
     */
    static final String KIMI_K2_TRIGGER = "\\p{Han}+";
    static final String AFMOE_DIGITS_TRIGGER = "\\p{AFMoE_digits}";
    static final String TINY_AYA_DIGITS_REGEX = "\\d{1,3}(?=(?:\\d{3})*\\b)";

    /**
     * What a tokenizer.ggml.pre value selects in llama.cpp (llama_vocab::impl::load and llm_tokenizer_bpe).
     *
     * @param ignoreMerges   a word that is a whole vocabulary token is emitted as is (Llama 3)
     * @param cleanSpaces    detokenization removes spaces before punctuation (clean_up_tokenization_spaces)
     * @param addBos         llama.cpp's default for tokenizer.ggml.add_bos_token when the key is absent
     * @param defaultBos     whether llama.cpp's BPE default bos id (11) applies when the key is absent (glm4: none)
     * @param mergesOptional a vocabulary without tokenizer.ggml.merges is accepted (kimi-k2: no merges at all)
     */
    record Config(String name, List<String> regexes, boolean ignoreMerges, boolean cleanSpaces, boolean addBos,
                  boolean defaultBos, boolean mergesOptional) {
        Config(String name, List<String> regexes, boolean ignoreMerges, boolean cleanSpaces, boolean addBos) {
            this(name, regexes, ignoreMerges, cleanSpaces, addBos, true, false);
        }
    }

    /** The pre-tokenizer types this class knows, for error messages. */
    static final List<String> SUPPORTED = List.of("default", "gpt-2", "mpt", "olmo", "phi-2", "gigachat", "llama3",
            "llama-v3", "llama-bpe", "falcon3", "lfm2", "glm4", "dbrx", "smaug-bpe", "deepseek-llm", "deepseek-coder",
            "deepseek-v3", "falcon", "starcoder", "refact", "command-r", "smollm", "codeshell", "exaone", "minerva-7b",
            "qwen2", "deepseek-r1-qwen", "hunyuan", "grok-2", "qwen35", "megrez", "stablelm2", "gpt-4o", "llama4",
            "kanana2", "minimax-m2", "tekken", "cohere2moe", "kimi-k2", "bailingmoe", "bailingmoe2", "afmoe",
            "exaone-moe");

    /** The configuration of a tokenizer.ggml.pre value; null or empty means llama.cpp's "default". */
    static Config config(String pre) {
        String name = pre == null || pre.isEmpty() ? "default" : pre;
        return switch (name) {
            case "default" -> new Config(name, List.of("[\\p{P}\\$\\+<=>\\^~\\|]+", GPT2_REGEX, "\\p{N}+", "[0-9][0-9][0-9]"),
                    false, true, false);
            case "gpt-2", "mpt", "olmo", "phi-2", "gigachat" -> new Config(name, List.of(GPT2_REGEX), false, true, false);
            case "llama3", "llama-v3", "llama-bpe", "falcon3", "lfm2" ->
                    new Config(name, List.of(LLAMA3_REGEX), true, true, true);
            case "dbrx", "smaug-bpe" -> new Config(name, List.of(LLAMA3_REGEX), false, true, false);
            // CHATGLM4: Llama 3's regex without ignore_merges; llama.cpp clears the default bos id
            case "glm4" -> new Config(name, List.of(LLAMA3_REGEX), false, true, false, false, false);
            // U+1F7D, U+1FBE, U+1FD3, U+1FDB, U+2126 and U+212A are escaped: Unicode normalization would
            // replace them with other code points and break the ranges.
            case "deepseek-llm" -> new Config(name, List.of(
                    "[\r\n]",
                    "\\s?[A-Za-zµÀ-ÖØ-öø-ƺƼ-ƿǄ-ʓʕ-ʯͰ-ͳͶͷͻ-ͽͿΆΈ-ΊΌΎ-ΡΣ-ϵϷ-ҁҊ-ԯԱ-ՖႠ-ჅᎠ-Ᏽᏸ-ᏽᲐ-ᲺᲽ-Ჿᴀ-ᴫᵫ-ᵷᵹ-ᶚḀ-ἕἘ-Ἕἠ-ὅὈ-Ὅὐ-ὗὙὛὝὟ-\u1F7Dᾀ-ᾴᾶ-ᾼ\u1FBEῂ-ῄῆ-ῌῐ-\u1FD3ῖ-\u1FDBῠ-Ῥῲ-ῴῶ-ῼℂℇℊ-ℓℕℙ-ℝℤ\u2126ℨ\u212A-ℭℯ-ℴℹℼ-ℿⅅ-ⅉⅎↃↄⰀ-ⱻⱾ-ⳤⳫ-ⳮⳲⳳꙀ-ꙭꚀ-ꚛꜢ-ꝯꝱ-ꞇꞋ-ꞎꭰ-ꮿﬀ-ﬆﬓ-ﬗＡ-Ｚａ-ｚ𐐀-𐑏𐒰-𐓓𐓘-𐓻𐲀-𐲲𐳀-𐳲𑢠-𑣟𞤀-𞥃]+",
                    "\\s?[!-/:-~！-／：-～‘-‟　-。]+",
                    // ECMAScript "$" (end of the piece); java.util.regex's "$" may also match before a final
                    // line terminator, which cannot change the result here since \s+ is greedy.
                    "\\s+$",
                    "[一-龥ࠀ-一가-퟿]+",
                    "\\p{N}+"), false, false, false);
            case "deepseek-coder" -> new Config(name, List.of(
                    "[\r\n]", "\\s?\\p{L}+", "\\s?\\p{P}+", "[一-龥ࠀ-一가-퟿]+", "\\p{N}"), false, false, false);
            case "deepseek-v3" -> new Config(name, List.of("\\p{N}{1,3}", "[一-龥぀-ゟ゠-ヿ]+", DEEPSEEK_V3_MAIN_REGEX),
                    false, false, false);
            case "falcon" -> new Config(name, List.of("[\\p{P}\\$\\+<=>\\^~\\|`]+", GPT2_REGEX, "[0-9][0-9][0-9]"),
                    false, true, false);
            case "starcoder", "refact", "codeshell", "exaone", "minerva-7b" ->
                    new Config(name, List.of("\\p{N}", GPT2_REGEX), false, true, false);
            case "command-r", "smollm" -> new Config(name, List.of("\\p{N}", GPT2_REGEX), false, false, false);
            case "qwen2", "deepseek-r1-qwen", "hunyuan", "grok-2" -> new Config(name, List.of(QWEN2_REGEX), false, false, false);
            case "qwen35" -> new Config(name, List.of(QWEN35_REGEX), false, false, false);
            case "megrez", "stablelm2" -> new Config(name, List.of(QWEN2_REGEX), false, true, false);
            case "gpt-4o", "llama4", "kanana2", "minimax-m2" -> new Config(name, List.of(GPT4O_REGEX), false, false, false);
            case "tekken" -> new Config(name, List.of(TEKKEN_REGEX), true, false, true);
            case "cohere2moe" -> new Config(name, List.of(TINY_AYA_DIGITS_REGEX, TINY_AYA_REGEX), false, false, false);
            case "kimi-k2" -> new Config(name, List.of(KIMI_K2_TRIGGER), false, false, false, true, true);
            case "bailingmoe", "bailingmoe2" -> new Config(name, List.of(BAILINGMOE_REGEX), false, false, false);
            // CJK, kana, Thai, Lao, Khmer, Myanmar, Cham, Myanmar-B, Hangul, escaped because normalization would
            // corrupt literals: llama.cpp's source has U+8C48 (not U+F900) and U+0E40 (not U+0E00) as range starts
            case "afmoe" -> new Config(name, List.of(AFMOE_DIGITS_TRIGGER,
                    "[\\u4E00-\\u9FFF\\u3400-\\u4DBF\\u8C48-\\uFAFF\\u3040-\\u309F\\u30A0-\\u30FF\\uFF65-\\uFF9F"
                            + "\\u2F00-\\u2FDF\\u0E40-\\u0E7F\\u0E80-\\u0EFF\\u1780-\\u17FF\\u1000-\\u109F\\uAA60-\\uAA7F"
                            + "\\uA9E0-\\uA9FF\\uAC00-\\uD7AF\\u1100-\\u11FF]+",
                    DEEPSEEK_V3_MAIN_REGEX), false, false, false);
            case "exaone-moe" -> new Config(name, List.of(EXAONE_MOE_REGEX), false, true, false);
            default -> throw new IllegalArgumentException("unknown pre-tokenizer type (tokenizer.ggml.pre): '" + name
                    + "'; supported: " + SUPPORTED);
        };
    }

    private final Step[] steps;

    PreTokenizer(Config config) {
        this(config.regexes(), true);
    }

    /**
     * With {@code handWritten} false, the regexes llama.cpp has hand-written matchers for (GPT-2's, Llama 3's,
     * Qwen2's, Qwen3.5's) run as regexes too, to cross-check; the two names that are no regexes (Kimi-K2's,
     * AFMoE's digits, and Cohere's digit regex llama.cpp routes to AFMoE's) always run hand-written.
     */
    PreTokenizer(List<String> regexes, boolean handWritten) {
        steps = new Step[regexes.size()];
        for (int i = 0; i < steps.length; i++) {
            String regex = regexes.get(i);
            Step custom = switch (regex) {
                case KIMI_K2_TRIGGER -> eachPiece(PreTokenizer::nextKimiK2);
                case AFMOE_DIGITS_TRIGGER, TINY_AYA_DIGITS_REGEX -> eachPiece(PreTokenizer::nextAfmoeDigits);
                case GPT2_REGEX -> handWritten ? eachPiece(PreTokenizer::nextGpt2) : null;
                case LLAMA3_REGEX -> handWritten ? eachPiece((w, pos) -> nextLlama3Family(w, pos, 3, false)) : null;
                case QWEN2_REGEX -> handWritten ? eachPiece((w, pos) -> nextLlama3Family(w, pos, 1, false)) : null;
                case QWEN35_REGEX -> handWritten ? eachPiece((w, pos) -> nextLlama3Family(w, pos, 1, true)) : null;
                case EXAONE_MOE_REGEX -> handWritten ? eachPiece(PreTokenizer::nextExaoneMoe) : null;
                default -> null;
            };
            steps[i] = custom != null ? custom : new RegexStep(regex);
        }
    }

    /** Splits code points into words; returns each word's length in code points, in order. */
    int[] split(int[] cps) {
        Text text = new Text(cps);
        IntList pieces = new IntList();
        if (cps.length > 0) {
            pieces.add(cps.length);
        }
        for (Step step : steps) {
            IntList next = new IntList();
            step.split(text, pieces, next);
            pieces = next;
        }
        return pieces.toArray();
    }

    private interface Step {
        void split(Text text, IntList in, IntList out);
    }

    /** The input text plus the two rewritten forms llama.cpp matches std::regex against, built on demand. */
    private static final class Text {
        final int[] cps;
        private String collapsed;
        private String wide;
        private int[] wideCharToCp;
        private int[] cpToWideChar;

        Text(int[] cps) {
            this.cps = cps;
        }

        /** One char per code point: ASCII as is, others replaced by a per-category stand-in (llama.cpp's text_collapsed). */
        String collapsed() {
            if (collapsed == null) {
                char[] c = new char[cps.length];
                for (int i = 0; i < cps.length; i++) {
                    c[i] = collapse(cps[i]);
                }
                collapsed = new String(c);
            }
            return collapsed;
        }

        /** The text with non-ASCII whitespace replaced by U+000B, as llama.cpp feeds std::wregex. */
        String wide() {
            if (wide == null) {
                StringBuilder sb = new StringBuilder(cps.length + 8);
                cpToWideChar = new int[cps.length + 1];
                for (int i = 0; i < cps.length; i++) {
                    cpToWideChar[i] = sb.length();
                    int cp = cps[i];
                    sb.appendCodePoint(cp > 0x7F && UnicodeFlags.isWhitespace(cp) ? 0x0B : cp);
                }
                cpToWideChar[cps.length] = sb.length();
                wide = sb.toString();
                wideCharToCp = new int[wide.length() + 1];
                for (int i = 0; i < cps.length; i++) {
                    for (int ch = cpToWideChar[i]; ch < cpToWideChar[i + 1]; ch++) {
                        wideCharToCp[ch] = i;
                    }
                }
                wideCharToCp[wide.length()] = cps.length;
            }
            return wide;
        }
    }

    static final char COLLAPSED_OTHER = 0xD0;
    static final char COLLAPSED_NUMBER = 0xD1;
    static final char COLLAPSED_LETTER = 0xD2;
    static final char COLLAPSED_PUNCTUATION = 0xD3;
    static final char COLLAPSED_ACCENT_MARK = 0xD4;
    static final char COLLAPSED_SYMBOL = 0xD5;

    static char collapse(int cp) {
        if (cp < 128) {
            return (char) cp;
        }
        int flags = UnicodeFlags.of(cp);
        if ((flags & UnicodeFlags.WHITESPACE) != 0) {
            return 0x0B;
        }
        return switch (flags & UnicodeFlags.CATEGORY_MASK) {
            case UnicodeFlags.NUMBER -> COLLAPSED_NUMBER;
            case UnicodeFlags.LETTER -> COLLAPSED_LETTER;
            case UnicodeFlags.PUNCTUATION -> COLLAPSED_PUNCTUATION;
            case UnicodeFlags.ACCENT_MARK -> COLLAPSED_ACCENT_MARK;
            case UnicodeFlags.SYMBOL -> COLLAPSED_SYMBOL;
            default -> COLLAPSED_OTHER;
        };
    }

    /** The category regexes llama.cpp rewrites, with the ASCII members it lists for each (note: no '~' in \p{S}). */
    private static String categoryClass(String property) {
        return switch (property) {
            case "\\p{N}" -> COLLAPSED_NUMBER + "0-9";
            case "\\p{L}", "\\p{Lu}", "\\p{Ll}", "\\p{Lt}", "\\p{Lm}", "\\p{Lo}" -> COLLAPSED_LETTER + "A-Za-z";
            case "\\p{P}" -> COLLAPSED_PUNCTUATION + "!-#%-*,-/:-;?-@\\[-\\]_\\{\\}";
            case "\\p{M}" -> String.valueOf(COLLAPSED_ACCENT_MARK);
            case "\\p{S}" -> COLLAPSED_SYMBOL + "\\$\\+<->^`\\|";
            default -> null;
        };
    }

    private static boolean usesCategories(String regex) {
        for (String p : List.of("\\p{N}", "\\p{L}", "\\p{P}", "\\p{M}", "\\p{S}", "\\p{Lu}", "\\p{Ll}", "\\p{Lt}",
                "\\p{Lm}", "\\p{Lo}")) {
            if (regex.contains(p)) {
                return true;
            }
        }
        return false;
    }

    /** llama.cpp's rewrite of \p{..} into classes over the collapsed text (a bracket is added outside [..]). */
    static String collapseRegex(String regex) {
        StringBuilder out = new StringBuilder();
        boolean inside = false;
        for (int i = 0; i < regex.length(); i++) {
            char c = regex.charAt(i);
            if (c == '[' && (i == 0 || regex.charAt(i - 1) != '\\')) {
                out.append('[');
                inside = true;
                continue;
            }
            if (inside && c == ']' && regex.charAt(i - 1) != '\\') {
                out.append(']');
                inside = false;
                continue;
            }
            if (c == '\\' && i + 3 < regex.length() && regex.charAt(i + 1) == 'p' && regex.charAt(i + 2) == '{') {
                int close = regex.indexOf('}', i + 3);
                if (close >= 0 && close <= i + 10) {
                    String cls = categoryClass(regex.substring(i, close + 1));
                    if (cls != null) {
                        out.append(inside ? cls : "[" + cls + "]");
                        i = close;
                        continue;
                    }
                }
            }
            out.append(c);
        }
        return out.toString();
    }

    private static final class RegexStep implements Step {
        private final Pattern pattern;
        private final boolean collapsed;

        RegexStep(String regex) {
            collapsed = usesCategories(regex);
            if (collapsed && regex.chars().anyMatch(ch -> ch >= 128)) {
                throw new IllegalArgumentException("regex mixes unicode categories and non-ASCII characters: " + regex);
            }
            pattern = Pattern.compile(collapsed ? collapseRegex(regex) : regex);
        }

        @Override
        public void split(Text text, IntList in, IntList out) {
            String s = collapsed ? text.collapsed() : text.wide();
            Matcher m = pattern.matcher(s);
            int startCp = 0;
            for (int p = 0; p < in.size(); p++) {
                int lenCp = in.get(p);
                int from = charOf(text, startCp);
                int to = charOf(text, startCp + lenCp);
                m.region(from, to);
                int prev = from;
                while (m.find()) {
                    if (m.start() > prev) {
                        out.add(cpOf(text, m.start()) - cpOf(text, prev));
                    }
                    if (m.end() > m.start()) {
                        out.add(cpOf(text, m.end()) - cpOf(text, m.start()));
                    }
                    prev = m.end();
                }
                if (prev < to) {
                    out.add(cpOf(text, to) - cpOf(text, prev));
                }
                startCp += lenCp;
            }
        }

        private int charOf(Text text, int cp) {
            return collapsed ? cp : text.cpToWideChar[cp];
        }

        private int cpOf(Text text, int ch) {
            return collapsed ? ch : text.wideCharToCp[ch];
        }
    }

    // ---- llama.cpp's hand-written matchers (unicode_regex_split_custom_*) ----

    /** One step of a hand-written matcher: ends the word (or words) at pos; returns the position after them. */
    private interface WordMatcher {
        int next(Piece w, int pos);
    }

    /** Runs a matcher over every piece; text it leaves unmatched at the end of a piece is a word of its own. */
    private static Step eachPiece(WordMatcher matcher) {
        return (text, in, out) -> {
            int start = 0;
            for (int p = 0; p < in.size(); p++) {
                Piece w = new Piece(text.cps, start, start + in.get(p), out);
                start = w.end;
                for (int pos = w.begin; pos < w.end; ) {
                    pos = matcher.next(w, pos);
                }
                w.add(w.end);
            }
        };
    }

    /** GPT-2: 's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+ */
    private static int nextGpt2(Piece w, int pos) {
        int cpt = w.cpt(pos);
        int flags = w.flags(pos);
        if (cpt == '\'' && pos + 1 < w.end) {
            int next = w.cpt(pos + 1);
            if (next == 's' || next == 't' || next == 'm' || next == 'd') {
                return pos + w.add(pos + 2);
            }
            if (pos + 2 < w.end) {
                int nextNext = w.cpt(pos + 2);
                if ((next == 'r' && nextNext == 'e') || (next == 'v' && nextNext == 'e') || (next == 'l' && nextNext == 'l')) {
                    return pos + w.add(pos + 3);
                }
            }
        }
        int flags2 = cpt == ' ' ? w.flags(pos + 1) : flags;
        if ((flags2 & UnicodeFlags.LETTER) != 0) {
            pos += cpt == ' ' ? 1 : 0;
            while ((flags2 & UnicodeFlags.LETTER) != 0) {
                flags2 = w.flags(++pos);
            }
            w.add(pos);
            return pos;
        }
        if ((flags2 & UnicodeFlags.NUMBER) != 0) {
            pos += cpt == ' ' ? 1 : 0;
            while ((flags2 & UnicodeFlags.NUMBER) != 0) {
                flags2 = w.flags(++pos);
            }
            w.add(pos);
            return pos;
        }
        if (isOther(flags2)) {
            pos += cpt == ' ' ? 1 : 0;
            while (isOther(flags2)) {
                flags2 = w.flags(++pos);
            }
            w.add(pos);
            return pos;
        }
        int numWhitespaces = 0;
        while ((w.flags(pos + numWhitespaces) & UnicodeFlags.WHITESPACE) != 0) {
            numWhitespaces++;
        }
        if (numWhitespaces > 1 && w.cpt(pos + numWhitespaces) != Piece.OUT_OF_RANGE) {
            pos += numWhitespaces - 1;
            w.add(pos);
            return pos;
        }
        if (numWhitespaces > 0) {
            pos += numWhitespaces;
            w.add(pos);
            return pos;
        }
        w.add(++pos);
        return pos;
    }

    /**
     * llama.cpp's matchers for Llama 3 (digits in threes), Qwen2 (single digits) and Qwen3.5 (single digits,
     * combining marks count as letters), which differ only there:
     * (?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+
     *
     * @param digitRun  the longest run of digits in one word (3 or 1)
     * @param withMarks whether \p{M} joins \p{L} in letter runs and leaves the punctuation class
     */
    private static int nextLlama3Family(Piece w, int pos, int digitRun, boolean withMarks) {
        int letterLike = withMarks ? UnicodeFlags.LETTER | UnicodeFlags.ACCENT_MARK : UnicodeFlags.LETTER;
        int notOther = UnicodeFlags.WHITESPACE | UnicodeFlags.NUMBER | letterLike;
        int cpt = w.cpt(pos);
        int flags = w.flags(pos);
        int contraction = w.contractionLength(pos);
        if (contraction > 0) {
            return pos + w.add(pos + contraction);
        }
        if (!(cpt == '\r' || cpt == '\n' || (flags & UnicodeFlags.NUMBER) != 0)) {
            if ((flags & letterLike) != 0 || (w.flags(pos + 1) & letterLike) != 0) {
                pos++;
                while ((w.flags(pos) & letterLike) != 0) {
                    pos++;
                }
                w.add(pos);
                return pos;
            }
        }
        if ((flags & UnicodeFlags.NUMBER) != 0) {
            return w.addNumbers(pos, digitRun);
        }
        int flags2 = cpt == ' ' ? w.flags(pos + 1) : flags;
        // llama.cpp tests the current code point's flags for being in range here, not flags2
        if ((flags2 & notOther) == 0 && flags != 0) {
            pos += cpt == ' ' ? 1 : 0;
            while ((flags2 & notOther) == 0 && flags2 != 0) {
                flags2 = w.flags(++pos);
            }
            return w.addWithNewlines(pos);
        }
        return w.addWhitespace(pos);
    }

    /**
     * llama.cpp's Kimi-K2 matcher, standing for K2's
     * [\p{Han}]+|[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}&&[^\p{Han}]]*[\p{Ll}\p{Lm}\p{Lo}\p{M}&&[^\p{Han}]]+(?i:'s|..)?|..
     * |\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+, as it really behaves: Han runs first, then
     * any run of non-Han letters (no case split, marks are not letters) with an optional leading character
     * and contraction.
     */
    private static int nextKimiK2(Piece w, int pos) {
        int cpt = w.cpt(pos);
        int flags = w.flags(pos);
        if (isHan(cpt)) {
            while (isHan(w.cpt(pos))) {
                pos++;
            }
            w.add(pos);
            return pos;
        }
        boolean leading = !(cpt == '\r' || cpt == '\n'
                || (flags & (UnicodeFlags.LETTER | UnicodeFlags.NUMBER)) != 0);
        // a leading character is only taken before a non-Han letter, so a letter always follows
        if (((flags & UnicodeFlags.LETTER) != 0 && !isHan(cpt)) || (leading && w.isNonHanLetter(pos + 1))) {
            pos += leading ? 1 : 0;
            while (w.isNonHanLetter(pos)) {
                pos++;
            }
            pos += w.contractionLength(pos);
            w.add(pos);
            return pos;
        }
        if ((flags & UnicodeFlags.NUMBER) != 0) {
            return w.addNumbers(pos, 3);
        }
        int flags2 = cpt == ' ' ? w.flags(pos + 1) : flags;
        // unlike Llama 3's matcher, this one tests flags2 for being in range
        if (isOther(flags2)) {
            pos += cpt == ' ' ? 1 : 0;
            while (isOther(flags2)) {
                flags2 = w.flags(++pos);
            }
            return w.addWithNewlines(pos);
        }
        return w.addWhitespace(pos);
    }

    /**
     * EXAONE-MoE's regex, alternative by alternative in ECMAScript's order (the first that matches at a position
     * wins; greedy parts backtrack only where the regex can):
     * (?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\r\n\p{L}\p{N}]?(?:\p{L}\p{M}*(?: \p{L}\p{M}*)*)+
     * |\p{N}| ?[^\s\p{L}\p{N}]+[\r\n/]?|\s*[\r\n]|\s+(?!\S)|\s+
     */
    private static int nextExaoneMoe(Piece w, int pos) {
        int cpt = w.cpt(pos);
        int flags = w.flags(pos);
        int contraction = w.asciiContractionLength(pos);
        if (contraction > 0) {
            return pos + w.add(pos + contraction);
        }
        boolean prefix = cpt != '\r' && cpt != '\n' && (flags & (UnicodeFlags.LETTER | UnicodeFlags.NUMBER)) == 0;
        if ((flags & UnicodeFlags.LETTER) != 0 || (prefix && (w.flags(pos + 1) & UnicodeFlags.LETTER) != 0)) {
            pos += prefix ? 1 : 0;
            // letters with their marks, joined directly or by one space before the next letter
            while (true) {
                if ((w.flags(pos) & UnicodeFlags.LETTER) != 0) {
                    pos++;
                } else if (w.cpt(pos) == ' ' && (w.flags(pos + 1) & UnicodeFlags.LETTER) != 0) {
                    pos += 2;
                } else {
                    break;
                }
                while ((w.flags(pos) & UnicodeFlags.ACCENT_MARK) != 0) {
                    pos++;
                }
            }
            w.add(pos);
            return pos;
        }
        if ((flags & UnicodeFlags.NUMBER) != 0) {
            return pos + w.add(pos + 1);
        }
        int flags2 = cpt == ' ' ? w.flags(pos + 1) : flags;
        if (isOther(flags2)) {
            pos += cpt == ' ' ? 1 : 0;
            while (isOther(w.flags(pos))) {
                pos++;
            }
            int next = w.cpt(pos);
            pos += next == '\r' || next == '\n' || next == '/' ? 1 : 0;
            w.add(pos);
            return pos;
        }
        // whitespace: up to its last \r or \n, else \s+(?!\S), else \s+
        int run = 0;
        int lastNewline = -1;
        while ((w.flags(pos + run) & UnicodeFlags.WHITESPACE) != 0) {
            int c = w.cpt(pos + run);
            if (c == '\r' || c == '\n') {
                lastNewline = pos + run;
            }
            run++;
        }
        if (lastNewline >= 0) {
            pos = lastNewline + 1;
        } else if (run > 1 && pos + run < w.end) {
            pos += run - 1;
        } else {
            pos += run;
        }
        w.add(pos);
        return pos;
    }

    /** unicode_cpt_is_han: the CJK Unified Ideographs blocks, extensions A to F and the compatibility blocks. */
    static boolean isHan(int cp) {
        return (cp >= 0x4E00 && cp <= 0x9FFF) || (cp >= 0x3400 && cp <= 0x4DBF) || (cp >= 0x20000 && cp <= 0x2A6DF)
                || (cp >= 0x2A700 && cp <= 0x2B73F) || (cp >= 0x2B740 && cp <= 0x2B81F)
                || (cp >= 0x2B820 && cp <= 0x2CEAF) || (cp >= 0x2CEB0 && cp <= 0x2EBEF)
                || (cp >= 0xF900 && cp <= 0xFAFF) || (cp >= 0x2F800 && cp <= 0x2FA1F);
    }

    /**
     * llama.cpp's AFMoE digit splitter (also used for Cohere's "\d{1,3}(?=(?:\d{3})*\b)"): every run of \p{N} is cut
     * into groups of three from the right. Quirk kept: the text before a run is not a piece of its own but the
     * start of the run's first group ("ab1234" gives "ab1", "234"); the regexes after this one split it off.
     */
    private static int nextAfmoeDigits(Piece w, int pos) {
        if ((w.flags(pos) & UnicodeFlags.NUMBER) == 0) {
            return pos + 1;
        }
        int digitStart = pos;
        while ((w.flags(pos) & UnicodeFlags.NUMBER) != 0) {
            pos++;
        }
        int current = digitStart + (pos - digitStart) % 3;
        if (current > digitStart) {
            w.add(current); // the leading one or two digits
        }
        for (; current < pos; current += 3) {
            w.add(current + 3);
        }
        return pos;
    }

    private static boolean isLetterNumberOrSpace(int flags) {
        return (flags & (UnicodeFlags.WHITESPACE | UnicodeFlags.LETTER | UnicodeFlags.NUMBER)) != 0;
    }

    /** [^\s\p{L}\p{N}] for a position inside the piece (flags 0 = outside). */
    private static boolean isOther(int flags) {
        return !isLetterNumberOrSpace(flags) && flags != 0;
    }

    /** One piece being split by a hand-written matcher: bounded look-ups and emitting of words. */
    private static final class Piece {
        static final int OUT_OF_RANGE = -1;
        final int[] cps;
        final int begin;
        final int end;
        final IntList out;
        int prevEnd;

        Piece(int[] cps, int begin, int end, IntList out) {
            this.cps = cps;
            this.begin = begin;
            this.end = end;
            this.out = out;
            this.prevEnd = begin;
        }

        int cpt(int pos) {
            return pos >= begin && pos < end ? cps[pos] : OUT_OF_RANGE;
        }

        int flags(int pos) {
            return pos >= begin && pos < end ? UnicodeFlags.of(cps[pos]) : 0;
        }

        /** Ends the current word at {@code wordEnd}; returns its length (0 adds nothing). */
        int add(int wordEnd) {
            int len = wordEnd - prevEnd;
            if (len > 0) {
                out.add(len);
            }
            prevEnd = wordEnd;
            return len;
        }

        boolean isNonHanLetter(int pos) {
            return (flags(pos) & UnicodeFlags.LETTER) != 0 && !isHan(cpt(pos));
        }

        /** The length of (?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD]) at pos (ASCII case only), or 0. */
        int asciiContractionLength(int pos) {
            if (cpt(pos) != '\'') {
                return 0;
            }
            int next = asciiLower(cpt(pos + 1));
            if (next == 's' || next == 't' || next == 'm' || next == 'd') {
                return 2;
            }
            int nextNext = asciiLower(cpt(pos + 2));
            boolean three = (next == 'r' && nextNext == 'e') || (next == 'v' && nextNext == 'e') || (next == 'l' && nextNext == 'l');
            return three ? 3 : 0;
        }

        private static int asciiLower(int c) {
            return c >= 'A' && c <= 'Z' ? c + 32 : c;
        }

        /** The length of (?i:'s|'t|'re|'ve|'m|'ll|'d) at pos, or 0. */
        int contractionLength(int pos) {
            if (cpt(pos) != '\'' || pos + 1 >= end) {
                return 0;
            }
            int next = Character.toLowerCase(cpt(pos + 1));
            if (next == 's' || next == 't' || next == 'm' || next == 'd') {
                return 2;
            }
            if (pos + 2 < end) {
                int nextNext = Character.toLowerCase(cpt(pos + 2));
                if ((next == 'r' && nextNext == 'e') || (next == 'v' && nextNext == 'e') || (next == 'l' && nextNext == 'l')) {
                    return 3;
                }
            }
            return 0;
        }

        /** A run of \p{N} at pos as words of at most {@code digitRun} digits; returns the position after it. */
        int addNumbers(int pos, int digitRun) {
            int ini = pos;
            while ((flags(pos) & UnicodeFlags.NUMBER) != 0) {
                if (++pos - ini >= digitRun) {
                    add(pos);
                    ini = pos;
                }
            }
            add(pos);
            return pos;
        }

        /** [\r\n]* after a run of punctuation ending at pos: ends the word after them; returns the new position. */
        int addWithNewlines(int pos) {
            int cpt2 = cpt(pos);
            while (cpt2 == '\r' || cpt2 == '\n') {
                cpt2 = cpt(++pos);
            }
            add(pos);
            return pos;
        }

        /**
         * The alternatives \s*[\r\n]+|\s+(?!\S)|\s+ at pos, or a single unmatched code point, as llama.cpp's Llama 3
         * family of matchers tries them; returns the new position.
         */
        int addWhitespace(int pos) {
            int numWhitespaces = 0;
            int lastEndROrN = 0;
            while ((flags(pos + numWhitespaces) & UnicodeFlags.WHITESPACE) != 0) {
                int cpt2 = cpt(pos + numWhitespaces);
                if (cpt2 == '\r' || cpt2 == '\n') {
                    lastEndROrN = pos + numWhitespaces + 1;
                }
                numWhitespaces++;
            }
            if (lastEndROrN > 0) {
                pos = lastEndROrN;
            } else if (numWhitespaces > 1 && cpt(pos + numWhitespaces) != OUT_OF_RANGE) {
                pos += numWhitespaces - 1;
            } else if (numWhitespaces > 0) {
                pos += numWhitespaces;
            } else {
                pos++;
            }
            add(pos);
            return pos;
        }
    }
}
