package io.moeflow.engine;

import java.util.List;

/**
 * Filters a generation's text deltas for stop strings: holds back any tail that could still become a stop
 * string, so a stop string is never emitted, not even in part. Once a stop string appears, the text before it
 * is the last delta and {@link #stopped()} turns true. Not thread-safe: one per generation.
 */
public final class StopStrings {
    private final List<String> stopStrings;
    private final StringBuilder held = new StringBuilder();
    private boolean stopped;

    public StopStrings(List<String> stopStrings) {
        for (String s : stopStrings) {
            if (s == null || s.isEmpty()) throw new IllegalArgumentException("stop strings must not be empty");
        }
        this.stopStrings = List.copyOf(stopStrings);
    }

    public boolean stopped() {
        return stopped;
    }

    /** Adds generated text; returns the part now safe to emit (empty while something is held back). */
    public String push(String text) {
        if (stopped) throw new IllegalStateException("stop string already matched");
        if (stopStrings.isEmpty()) return text;
        held.append(text);
        int match = earliestStop();
        if (match >= 0) {
            stopped = true;
            String out = held.substring(0, match);
            held.setLength(0);
            return out;
        }
        return take(held.length() - stopPrefixSuffix());
    }

    /** Everything still held back (the generation ended without a stop string completing). */
    public String flush() {
        return stopped ? "" : take(held.length());
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
}
