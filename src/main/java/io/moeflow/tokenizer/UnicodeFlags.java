package io.moeflow.tokenizer;

/**
 * Code point classes as llama.cpp's unicode.cpp sees them: one general-category group per code point
 * (letter, number, punctuation, ...) plus the White_Space property. The pre-tokenizers below must
 * classify exactly like llama.cpp, so this mirrors its table rather than java.util.regex's own classes.
 */
final class UnicodeFlags {
    static final int UNDEFINED = 0x0001;
    static final int NUMBER = 0x0002;
    static final int LETTER = 0x0004;
    static final int SEPARATOR = 0x0008;
    static final int ACCENT_MARK = 0x0010;
    static final int PUNCTUATION = 0x0020;
    static final int SYMBOL = 0x0040;
    static final int CONTROL = 0x0080;
    static final int CATEGORY_MASK = 0x00FF;
    static final int WHITESPACE = 0x0100;

    /** Flags of the whole BMP, computed once: classification sits in the inner loop of every split. */
    private static final short[] BMP = new short[0x10000];

    static {
        for (int cp = 0; cp < 0x10000; cp++) {
            BMP[cp] = (short) compute(cp);
        }
    }

    private UnicodeFlags() {}

    /** Flags of a code point; 0 for "no code point" (a position outside the current fragment). */
    static int of(int cp) {
        if (cp < 0) {
            return 0;
        }
        if (cp < 0x10000) {
            return BMP[cp];
        }
        return cp <= Character.MAX_CODE_POINT ? compute(cp) : UNDEFINED;
    }

    static boolean isWhitespace(int cp) {
        return (of(cp) & WHITESPACE) != 0;
    }

    static boolean isLetter(int cp) {
        return (of(cp) & LETTER) != 0;
    }

    static boolean isNumber(int cp) {
        return (of(cp) & NUMBER) != 0;
    }

    private static int compute(int cp) {
        int flags = switch (Character.getType(cp)) {
            case Character.UPPERCASE_LETTER, Character.LOWERCASE_LETTER, Character.TITLECASE_LETTER,
                 Character.MODIFIER_LETTER, Character.OTHER_LETTER -> LETTER;
            case Character.NON_SPACING_MARK, Character.ENCLOSING_MARK, Character.COMBINING_SPACING_MARK -> ACCENT_MARK;
            case Character.DECIMAL_DIGIT_NUMBER, Character.LETTER_NUMBER, Character.OTHER_NUMBER -> NUMBER;
            case Character.SPACE_SEPARATOR, Character.LINE_SEPARATOR, Character.PARAGRAPH_SEPARATOR -> SEPARATOR;
            case Character.CONTROL, Character.FORMAT, Character.PRIVATE_USE, Character.SURROGATE -> CONTROL;
            case Character.DASH_PUNCTUATION, Character.START_PUNCTUATION, Character.END_PUNCTUATION,
                 Character.CONNECTOR_PUNCTUATION, Character.OTHER_PUNCTUATION,
                 Character.INITIAL_QUOTE_PUNCTUATION, Character.FINAL_QUOTE_PUNCTUATION -> PUNCTUATION;
            case Character.MATH_SYMBOL, Character.CURRENCY_SYMBOL, Character.MODIFIER_SYMBOL,
                 Character.OTHER_SYMBOL -> SYMBOL;
            default -> UNDEFINED;
        };
        if (isWhiteSpaceProperty(cp)) {
            flags |= WHITESPACE;
        }
        return flags;
    }

    /** Unicode's White_Space property (PropList.txt), the set llama.cpp uses for \s. */
    private static boolean isWhiteSpaceProperty(int cp) {
        return (cp >= 0x09 && cp <= 0x0D) || cp == 0x20 || cp == 0x85 || cp == 0xA0 || cp == 0x1680
                || (cp >= 0x2000 && cp <= 0x200A) || cp == 0x2028 || cp == 0x2029 || cp == 0x202F
                || cp == 0x205F || cp == 0x3000;
    }
}
