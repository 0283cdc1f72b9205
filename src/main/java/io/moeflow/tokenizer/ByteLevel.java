package io.moeflow.tokenizer;

import java.util.Arrays;

/**
 * GPT-2's bytes_to_unicode: every byte gets a printable code point (printable Latin-1 bytes map to
 * themselves, the other 68 to U+0100.. in order), so byte-level BPE vocabularies are plain strings.
 */
final class ByteLevel {
    private static final char[] BYTE_TO_CHAR = new char[256];
    /** Inverse mapping indexed by code point (all mapped code points are below 0x144); -1 = unmapped. */
    private static final short[] CHAR_TO_BYTE = new short[0x144];

    static {
        Arrays.fill(CHAR_TO_BYTE, (short) -1);
        int n = 0;
        for (int b = 0; b < 256; b++) {
            boolean printable = (b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
            char c = printable ? (char) b : (char) (256 + n++);
            BYTE_TO_CHAR[b] = c;
            CHAR_TO_BYTE[c] = (short) b;
        }
    }

    private ByteLevel() {}

    static char encode(int b) {
        return BYTE_TO_CHAR[b & 0xFF];
    }

    /** The byte a code point stands for, or -1 when the code point is not one of the 256 mapped ones. */
    static int decode(int cp) {
        return cp >= 0 && cp < CHAR_TO_BYTE.length ? CHAR_TO_BYTE[cp] : -1;
    }

    /** The mapped string of some UTF-8 bytes: one char per byte. */
    static String encode(byte[] utf8, int from, int to) {
        char[] out = new char[to - from];
        for (int i = from; i < to; i++) {
            out[i - from] = BYTE_TO_CHAR[utf8[i] & 0xFF];
        }
        return new String(out);
    }
}
