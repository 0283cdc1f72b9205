package io.moeflow.engine;

import static org.junit.jupiter.api.Assertions.*;

import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import java.util.List;
import org.junit.jupiter.api.Test;

class TextStreamTest {
    private static byte[] utf8(String s) {
        return s.getBytes(StandardCharsets.UTF_8);
    }

    @Test
    void aCharacterSplitAcrossTokensComesOutWhole() {
        TextStream t = new TextStream(List.of());
        byte[] e = utf8("é"); // 2 bytes
        assertEquals("", t.append(new byte[] {e[0]}));
        assertEquals("é!", t.append(new byte[] {e[1], '!'}));
        byte[] smile = utf8("😀"); // 4 bytes
        assertEquals("", t.append(Arrays.copyOfRange(smile, 0, 1)));
        assertEquals("", t.append(Arrays.copyOfRange(smile, 1, 3)));
        assertEquals("😀", t.append(Arrays.copyOfRange(smile, 3, 4)));
        assertEquals("a", t.append(utf8("a")));
    }

    @Test
    void anUnfinishedCharacterIsReplacedWhenFlushed() {
        TextStream t = new TextStream(List.of());
        assertEquals("x", t.append(new byte[] {'x', (byte) 0xE2, (byte) 0x82}));
        assertEquals("\uFFFD", t.flush());
    }

    @Test
    void aStopStringIsHeldBackAndNeverEmitted() {
        TextStream t = new TextStream(List.of("END"));
        assertEquals("abc", t.append(utf8("abcE")));
        assertEquals("", t.append(utf8("N")));
        assertFalse(t.stopped());
        assertEquals("", t.append(utf8("D and more")));
        assertTrue(t.stopped());
        assertEquals("", t.flush());
    }

    @Test
    void aFalseStartIsReleasedOnceItCannotMatch() {
        TextStream t = new TextStream(List.of("END"));
        assertEquals("x", t.append(utf8("xEN")));
        assertEquals("ENx", t.append(utf8("x")));
        assertEquals("E", t.append(utf8("EE"))); // the second E may still start "END"
        assertEquals("E", t.flush());
    }

    @Test
    void theEarliestOfSeveralStopStringsWins() {
        TextStream t = new TextStream(List.of("world", "lo w"));
        assertEquals("hel", t.append(utf8("hello world")));
        assertTrue(t.stopped());
    }

    @Test
    void aStopStringInsideOneTokenCutsTheTextBeforeIt() {
        TextStream t = new TextStream(List.of("\n\n"));
        assertEquals("one", t.append(utf8("one\n")).concat(t.append(utf8("\ntwo"))));
        assertTrue(t.stopped());
    }
}
