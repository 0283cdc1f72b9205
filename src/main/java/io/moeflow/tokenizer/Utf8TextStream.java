package io.moeflow.tokenizer;

import java.nio.charset.StandardCharsets;
import java.util.Arrays;

/** A TextStream that buffers bytes and emits only complete, valid UTF-8 sequences. */
final class Utf8TextStream implements TextStream {
    private final BaseTokenizer tokenizer;
    private byte[] pending = new byte[16];
    private int n;

    Utf8TextStream(BaseTokenizer tokenizer) {
        this.tokenizer = tokenizer;
    }

    @Override
    public String push(int id) {
        byte[] piece = tokenizer.renderedPiece(id);
        if (n + piece.length > pending.length) {
            pending = Arrays.copyOf(pending, Math.max(pending.length * 2, n + piece.length));
        }
        System.arraycopy(piece, 0, pending, n, piece.length);
        n += piece.length;
        int complete = completePrefix(pending, n);
        if (complete == 0) {
            return "";
        }
        String s = new String(pending, 0, complete, StandardCharsets.UTF_8);
        System.arraycopy(pending, complete, pending, 0, n - complete);
        n -= complete;
        return s;
    }

    @Override
    public String flush() {
        String s = new String(pending, 0, n, StandardCharsets.UTF_8);
        n = 0;
        return s;
    }

    /**
     * The length of the longest prefix that does not end inside a character that may still be completed.
     * An invalid byte is let through (the decoder turns it into U+FFFD) rather than held forever.
     */
    static int completePrefix(byte[] b, int len) {
        int i = 0;
        while (i < len) {
            int lead = b[i] & 0xFF;
            int need = lead < 0x80 ? 1 : lead >= 0xF0 && lead <= 0xF4 ? 4 : lead >= 0xE0 ? (lead <= 0xEF ? 3 : 1)
                    : lead >= 0xC2 ? 2 : 1;
            int j = i + 1;
            while (j < len && j < i + need && (b[j] & 0xC0) == 0x80) {
                j++;
            }
            if (j == len && j < i + need) {
                return i; // the character starting at i may still be completed by the next token
            }
            i = j;
        }
        return len;
    }
}
