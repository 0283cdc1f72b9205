package io.moeflow.api;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;

class ClientTextTest {
    @Test
    void aForgedLineStaysOnTheLineItBelongsTo() {
        String forged = "r1\n2026-12-03 06:00:00,000 ERROR [io.moeflow] forged\r\n";
        String logged = ClientText.forLog(forged);
        assertEquals("r1\\n2026-12-03 06:00:00,000 ERROR [io.moeflow] forged\\r\\n", logged);
        assertFalse(logged.contains("\n") || logged.contains("\r"));
    }

    @Test
    void controlsSeparatorsAndBidiOverridesAreEscapedAndBackslashesDoubled() {
        assertEquals("a\\tb\\u001B[31mc\\u007F\\u0085", ClientText.forLog("a\tb\u001B[31mc\u007F\u0085"));
        assertEquals("x\\u2028y\\u2029z\\u202Ew\\u2066", ClientText.forLog("x\u2028y\u2029z\u202Ew\u2066"));
        // a literal backslash-n typed by the client cannot pass for an escaped newline
        assertEquals("a\\\\nb", ClientText.forLog("a\\nb"));
        assertEquals("\\uD800x\\uDC00", ClientText.forLog("\uD800x\uDC00"));
        assertEquals("\uD83D\uDE00", ClientText.forLog("\uD83D\uDE00"), "a pair is text");
        assertEquals("null", ClientText.forLog(null));
        String plain = "cmpl-123 ok";
        assertSame(plain, ClientText.forLog(plain), "nothing to escape: the same string");
    }

    @Test
    void longValuesAreCut() {
        String logged = ClientText.forLog("x".repeat(10_000));
        assertEquals(ClientText.MAX_LOGGED_CHARS + "...(9744 more chars)".length(), logged.length());
        assertTrue(logged.endsWith("...(9744 more chars)"), logged);
        String pairAtTheCut = "x".repeat(ClientText.MAX_LOGGED_CHARS - 1) + "\uD83D\uDE00";
        String cut = ClientText.forLog(pairAtTheCut);
        assertFalse(cut.contains("\uD83D"), "a pair is not cut in two: " + cut.substring(cut.length() - 30));
    }
}
