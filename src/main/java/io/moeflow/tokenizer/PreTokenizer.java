package io.moeflow.tokenizer;

import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Splits text into the words byte-level BPE merges within, exactly as llama.cpp's unicode_regex_split:
 * the regexes of a pre-tokenizer type run one after the other, each one splitting the pieces of the
 * previous one further (text between matches stays a piece of its own). Two regexes (GPT-2's and
 * Llama 3's) have hand-written matchers in llama.cpp; other regexes run on a "collapsed" text where
 * every non-ASCII code point is replaced by one stand-in character per Unicode category, with \p{..}
 * in the regex rewritten to match those stand-ins. Both are reproduced here, quirks included, because
 * the token ids must equal llama.cpp's.
 */
final class PreTokenizer {
    static final String GPT2_REGEX = "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)";
    static final String LLAMA3_REGEX = "(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])"
            + "|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
    private static final String QWEN2_REGEX = "(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])"
            + "|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
    private static final String CONTRACTIONS = "(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])";
    private static final String GPT4O_REGEX =
            "[^\\r\\n\\p{L}\\p{N}]?((?=[\\p{L}])([^a-z]))*((?=[\\p{L}])([^A-Z]))+" + CONTRACTIONS + "?"
            + "|[^\\r\\n\\p{L}\\p{N}]?((?=[\\p{L}])([^a-z]))+((?=[\\p{L}])([^A-Z]))*" + CONTRACTIONS + "?"
            + "|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n/]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";

    /**
     * What a tokenizer.ggml.pre value selects in llama.cpp (llama_vocab::impl::load and llm_tokenizer_bpe).
     *
     * @param ignoreMerges a word that is a whole vocabulary token is emitted as is (Llama 3)
     * @param cleanSpaces  detokenization removes spaces before punctuation (clean_up_tokenization_spaces)
     * @param addBos       llama.cpp's default for tokenizer.ggml.add_bos_token when the key is absent
     */
    record Config(String name, List<String> regexes, boolean ignoreMerges, boolean cleanSpaces, boolean addBos) {}

    /** The pre-tokenizer types this class knows, for error messages. */
    static final List<String> SUPPORTED = List.of("default", "gpt-2", "mpt", "olmo", "phi-2", "llama3", "llama-v3",
            "llama-bpe", "falcon3", "dbrx", "smaug-bpe", "deepseek-llm", "deepseek-coder", "deepseek-v3", "falcon",
            "starcoder", "refact", "command-r", "smollm", "codeshell", "exaone", "minerva-7b", "qwen2",
            "deepseek-r1-qwen", "megrez", "stablelm2", "gpt-4o", "llama4");

    /** The configuration of a tokenizer.ggml.pre value; null or empty means llama.cpp's "default". */
    static Config config(String pre) {
        String name = pre == null || pre.isEmpty() ? "default" : pre;
        return switch (name) {
            case "default" -> new Config(name, List.of("[\\p{P}\\$\\+<=>\\^~\\|]+", GPT2_REGEX, "\\p{N}+", "[0-9][0-9][0-9]"),
                    false, true, false);
            case "gpt-2", "mpt", "olmo", "phi-2" -> new Config(name, List.of(GPT2_REGEX), false, true, false);
            case "llama3", "llama-v3", "llama-bpe", "falcon3" -> new Config(name, List.of(LLAMA3_REGEX), true, true, true);
            case "dbrx", "smaug-bpe" -> new Config(name, List.of(LLAMA3_REGEX), false, true, false);
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
            case "deepseek-v3" -> new Config(name, List.of(
                    "\\p{N}{1,3}",
                    "[一-龥぀-ゟ゠-ヿ]+",
                    "[!\"#$%&'()*+,\\-./:;<=>?@\\[\\\\\\]^_`{|}~][A-Za-z]+|[^\r\n\\p{L}\\p{P}\\p{S}]?[\\p{L}\\p{M}]+"
                            + "| ?[\\p{P}\\p{S}]+[\r\n]*|\\s*[\r\n]+|\\s+(?!\\S)|\\s+"), false, false, false);
            case "falcon" -> new Config(name, List.of("[\\p{P}\\$\\+<=>\\^~\\|`]+", GPT2_REGEX, "[0-9][0-9][0-9]"),
                    false, true, false);
            case "starcoder", "refact", "codeshell", "exaone", "minerva-7b" ->
                    new Config(name, List.of("\\p{N}", GPT2_REGEX), false, true, false);
            case "command-r", "smollm" -> new Config(name, List.of("\\p{N}", GPT2_REGEX), false, false, false);
            case "qwen2", "deepseek-r1-qwen" -> new Config(name, List.of(QWEN2_REGEX), false, false, false);
            case "megrez", "stablelm2" -> new Config(name, List.of(QWEN2_REGEX), false, true, false);
            case "gpt-4o", "llama4" -> new Config(name, List.of(GPT4O_REGEX), false, false, false);
            default -> throw new IllegalArgumentException("unknown pre-tokenizer type (tokenizer.ggml.pre): '" + name
                    + "'; supported: " + SUPPORTED);
        };
    }

    private final Step[] steps;

    PreTokenizer(Config config) {
        this(config.regexes(), true);
    }

    /** With {@code handWritten} false, GPT-2's and Llama 3's regexes run as regexes too (to cross-check). */
    PreTokenizer(List<String> regexes, boolean handWritten) {
        steps = new Step[regexes.size()];
        for (int i = 0; i < steps.length; i++) {
            String regex = regexes.get(i);
            if (!handWritten) {
                steps[i] = new RegexStep(regex);
            } else if (regex.equals(GPT2_REGEX)) {
                steps[i] = PreTokenizer::splitGpt2;
            } else if (regex.equals(LLAMA3_REGEX)) {
                steps[i] = PreTokenizer::splitLlama3;
            } else {
                steps[i] = new RegexStep(regex);
            }
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

    // ---- llama.cpp's hand-written matchers (unicode_regex_split_custom_gpt2 / _llama3) ----

    /** GPT-2: 's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+ */
    private static void splitGpt2(Text text, IntList in, IntList out) {
        int[] cps = text.cps;
        int start = 0;
        for (int p = 0; p < in.size(); p++) {
            Piece w = new Piece(cps, start, start + in.get(p), out);
            start = w.end;
            for (int pos = w.begin; pos < w.end; ) {
                int cpt = w.cpt(pos);
                int flags = w.flags(pos);
                if (cpt == '\'' && pos + 1 < w.end) {
                    int next = w.cpt(pos + 1);
                    if (next == 's' || next == 't' || next == 'm' || next == 'd') {
                        pos += w.add(pos + 2);
                        continue;
                    }
                    if (pos + 2 < w.end) {
                        int nextNext = w.cpt(pos + 2);
                        if ((next == 'r' && nextNext == 'e') || (next == 'v' && nextNext == 'e') || (next == 'l' && nextNext == 'l')) {
                            pos += w.add(pos + 3);
                            continue;
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
                    continue;
                }
                if ((flags2 & UnicodeFlags.NUMBER) != 0) {
                    pos += cpt == ' ' ? 1 : 0;
                    while ((flags2 & UnicodeFlags.NUMBER) != 0) {
                        flags2 = w.flags(++pos);
                    }
                    w.add(pos);
                    continue;
                }
                if (isOther(flags2)) {
                    pos += cpt == ' ' ? 1 : 0;
                    while (isOther(flags2)) {
                        flags2 = w.flags(++pos);
                    }
                    w.add(pos);
                    continue;
                }
                int numWhitespaces = 0;
                while ((w.flags(pos + numWhitespaces) & UnicodeFlags.WHITESPACE) != 0) {
                    numWhitespaces++;
                }
                if (numWhitespaces > 1 && w.cpt(pos + numWhitespaces) != Piece.OUT_OF_RANGE) {
                    pos += numWhitespaces - 1;
                    w.add(pos);
                    continue;
                }
                if (numWhitespaces > 0) {
                    pos += numWhitespaces;
                    w.add(pos);
                    continue;
                }
                w.add(++pos);
            }
        }
    }

    /** Llama 3: (?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+ */
    private static void splitLlama3(Text text, IntList in, IntList out) {
        int[] cps = text.cps;
        int start = 0;
        for (int p = 0; p < in.size(); p++) {
            Piece w = new Piece(cps, start, start + in.get(p), out);
            start = w.end;
            for (int pos = w.begin; pos < w.end; ) {
                int cpt = w.cpt(pos);
                int flags = w.flags(pos);
                if (cpt == '\'' && pos + 1 < w.end) {
                    int next = Character.toLowerCase(w.cpt(pos + 1));
                    if (next == 's' || next == 't' || next == 'm' || next == 'd') {
                        pos += w.add(pos + 2);
                        continue;
                    }
                    if (pos + 2 < w.end) {
                        int nextNext = Character.toLowerCase(w.cpt(pos + 2));
                        if ((next == 'r' && nextNext == 'e') || (next == 'v' && nextNext == 'e') || (next == 'l' && nextNext == 'l')) {
                            pos += w.add(pos + 3);
                            continue;
                        }
                    }
                }
                if (!(cpt == '\r' || cpt == '\n' || (flags & UnicodeFlags.NUMBER) != 0)) {
                    if ((flags & UnicodeFlags.LETTER) != 0 || (w.flags(pos + 1) & UnicodeFlags.LETTER) != 0) {
                        pos++;
                        while ((w.flags(pos) & UnicodeFlags.LETTER) != 0) {
                            pos++;
                        }
                        w.add(pos);
                        continue;
                    }
                }
                if ((flags & UnicodeFlags.NUMBER) != 0) {
                    int ini = pos;
                    while ((w.flags(pos) & UnicodeFlags.NUMBER) != 0) {
                        if (++pos - ini >= 3) {
                            w.add(pos);
                            ini = pos;
                        }
                    }
                    w.add(pos);
                    continue;
                }
                int flags2 = cpt == ' ' ? w.flags(pos + 1) : flags;
                // llama.cpp tests the current code point's flags for being in range here, not flags2
                if (!isLetterNumberOrSpace(flags2) && flags != 0) {
                    pos += cpt == ' ' ? 1 : 0;
                    while (isOther(flags2)) {
                        flags2 = w.flags(++pos);
                    }
                    int cpt2 = w.cpt(pos);
                    while (cpt2 == '\r' || cpt2 == '\n') {
                        cpt2 = w.cpt(++pos);
                    }
                    w.add(pos);
                    continue;
                }
                int numWhitespaces = 0;
                int lastEndROrN = 0;
                while ((w.flags(pos + numWhitespaces) & UnicodeFlags.WHITESPACE) != 0) {
                    int cpt2 = w.cpt(pos + numWhitespaces);
                    if (cpt2 == '\r' || cpt2 == '\n') {
                        lastEndROrN = pos + numWhitespaces + 1;
                    }
                    numWhitespaces++;
                }
                if (lastEndROrN > 0) {
                    pos = lastEndROrN;
                    w.add(pos);
                    continue;
                }
                if (numWhitespaces > 1 && w.cpt(pos + numWhitespaces) != Piece.OUT_OF_RANGE) {
                    pos += numWhitespaces - 1;
                    w.add(pos);
                    continue;
                }
                if (numWhitespaces > 0) {
                    pos += numWhitespaces;
                    w.add(pos);
                    continue;
                }
                w.add(++pos);
            }
        }
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
    }
}
