package io.moeflow.engine;

import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import java.util.List;

/**
 * Turns a sequence's token bytes into text deltas: emits only complete UTF-8 characters (a character split
 * across tokens comes out once whole), and holds back any tail that could still become a stop string, so a
 * stop string is never emitted, not even in part. Once a stop string appears, the text before it is the last
 * delta and {@link #stopped()} turns true.
 */
public final class TextStream {
    private final List<String> stopStrings;
    private byte[] bytes = new byte[16];
    private int byteCount;
    private final StringBuilder held = new StringBuilder();
    private boolean stopped;

    public TextStream(List<String> stopStrings) {
        for (String s : stopStrings) {
            if (s == null || s.isEmpty()) throw new IllegalArgumentException("stop strings must not be empty");
        }
        this.stopStrings = List.copyOf(stopStrings);
    }

    public boolean stopped() {
        return stopped;
    }

    /** Adds a token's bytes; returns the text now safe to emit (often empty while something is held back). */
    public String append(byte[] tokenBytes) {
        if (stopped) throw new IllegalStateException("text stream already stopped");
        if (byteCount + tokenBytes.length > bytes.length) {
            bytes = Arrays.copyOf(bytes, Math.max(bytes.length * 2, byteCount + tokenBytes.length));
        }
        System.arraycopy(tokenBytes, 0, bytes, byteCount, tokenBytes.length);
        byteCount += tokenBytes.length;
        int complete = completeUtf8Prefix(bytes, byteCount);
        if (complete > 0) {
            held.append(new String(bytes, 0, complete, StandardCharsets.UTF_8));
            System.arraycopy(bytes, complete, bytes, 0, byteCount - complete);
            byteCount -= complete;
        }
        if (stopStrings.isEmpty()) return take(held.length());
        int match = earliestStop();
        if (match >= 0) {
            stopped = true;
            String out = held.substring(0, match);
            held.setLength(0);
            byteCount = 0;
            return out;
        }
        return take(held.length() - stopPrefixSuffix());
    }

    /**
     * Everything still held back (the generation ended without the stop string completing), with an incomplete
     * trailing character decoded as U+FFFD.
     */
    public String flush() {
        if (stopped) return "";
        if (byteCount > 0) {
            held.append(new String(bytes, 0, byteCount, StandardCharsets.UTF_8));
            byteCount = 0;
        }
        return take(held.length());
    }

    private String take(int chars) {
        if (chars == 0) return "";
        String out = held.substring(0, chars);
        held.delete(0, chars);
        return out;
    }

    /** Start of the earliest complete stop string in the held text, or -1. */
    private int earliestStop() {
        int best = -1;
        for (String s : stopStrings) {
            int at = held.indexOf(s);
            if (at >= 0 && (best < 0 || at < best)) best = at;
        }
        return best;
    }

    /** Length of the longest tail of the held text that is a proper prefix of some stop string. */
    private int stopPrefixSuffix() {
        int longest = 0;
        for (String s : stopStrings) {
            for (int k = Math.min(s.length() - 1, held.length()); k > longest; k--) {
                if (heldEndsWith(s, k)) {
                    longest = k;
                    break;
                }
            }
        }
        return longest;
    }

    private boolean heldEndsWith(String s, int k) {
        int from = held.length() - k;
        for (int i = 0; i < k; i++) if (held.charAt(from + i) != s.charAt(i)) return false;
        return true;
    }

    /**
     * Length of the longest prefix of {@code b[0..n)} that does not end inside a multi-byte character. Invalid
     * sequences count as complete (the decoder replaces them) so they never block the stream.
     */
    static int completeUtf8Prefix(byte[] b, int n) {
        for (int i = n - 1; i >= Math.max(0, n - 4); i--) {
            int c = b[i] & 0xFF;
            if (c < 0x80) return n; // ASCII ends a character
            if (c >= 0xC0) { // lead byte: is its character whole?
                int need = c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : 2;
                return n - i >= need ? n : i;
            }
        }
        return n;
    }
}
