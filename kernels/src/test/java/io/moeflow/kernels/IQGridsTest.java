package io.moeflow.kernels;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.security.MessageDigest;
import java.util.HexFormat;
import org.junit.jupiter.api.Test;

/**
 * The tables in IQGrids are ggml's: the SHA-256 of each table's little-endian bytes, as scripts/gen-iq-grids.py
 * computed it from the text of ggml/src/ggml-common.h (unslothai/llama.cpp at 34af94cd9ab277632e27caeec2d41de2fd091b31).
 */
class IQGridsTest {
    private static String sha256(int[] values, int bytesEach) throws Exception {
        ByteBuffer b = ByteBuffer.allocate(values.length * bytesEach).order(ByteOrder.LITTLE_ENDIAN);
        for (int v : values) {
            if (bytesEach == 1) b.put((byte) v);
            else b.putInt(v);
        }
        return HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(b.array()));
    }

    private static String sha256(long[] values) throws Exception {
        ByteBuffer b = ByteBuffer.allocate(values.length * 8).order(ByteOrder.LITTLE_ENDIAN);
        for (long v : values) b.putLong(v);
        return HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(b.array()));
    }

    @Test
    void tablesAreGgmls() throws Exception {
        assertEquals("5ac9831b2e30eb285ef34f8501620f878432d5c04331ad1ae47f977a83ba41a5", sha256(IQGrids.KmaskIq2xs.TABLE, 1), "kmask_iq2xs");
        assertEquals("a76742a603f8beca5212ecce0f1f02f11a4887fd2f7c8b15aca0ea3eb3380c31", sha256(IQGrids.KsignsIq2xs.TABLE, 1), "ksigns_iq2xs");
        assertEquals("61aa47540aa024b5d6ddaa839b84ffe59f3d5a349af5c6c7ffcb5e0474b46163", sha256(IQGrids.KvaluesIq4nl.TABLE, 1), "kvalues_iq4nl");
        assertEquals("05826b5d3e472a3a78f196be62ac78acf81df0f909626e12ab9fa2a5d490dd54", sha256(IQGrids.Iq2xxsGrid.TABLE), "iq2xxs_grid");
        assertEquals("06e47aaca60b4dc1d9b5a3f34540437058a6b142b4d7a59d5ded769b4d1bf1de", sha256(IQGrids.Iq2xsGrid.TABLE), "iq2xs_grid");
        assertEquals("e1aa1473412b0552c2174c30ef22ab4073f6a181b85a17056e8249bd2932fd88", sha256(IQGrids.Iq2sGrid.TABLE), "iq2s_grid");
        assertEquals("46e35f5a997efdee6c99ce57854c8a0d4f0ff8ca57e5e8a60c0793ea580acf5d", sha256(IQGrids.Iq3xxsGrid.TABLE, 4), "iq3xxs_grid");
        assertEquals("bd1af4945a1717c65610b0284e4628b9a1ba3b306fae3a06f6e5f597356e349f", sha256(IQGrids.Iq3sGrid.TABLE, 4), "iq3s_grid");
        assertEquals("07540ffc1aeaf6ad4d97e96b0fcc765aae39671d4ae4a27bbd0e796fde167c6a", sha256(IQGrids.Iq1sGrid.TABLE), "iq1s_grid");
    }

    /** The derived tables the kernels use agree with ggml's tables they come from. */
    @Test
    void derivedLevelTablesMatchTheGrids() {
        long[] grid = IQGrids.Iq1sGrid.TABLE;
        for (int i = 0; i < grid.length; i++)
            for (int j = 0; j < 8; j++) {
                int g = (byte) (grid[i] >>> 8 * j);
                assertEquals(8 * g + 1, (byte) (IQ1_SFormat.LEVELS_PLUS[i] >>> 8 * j), "iq1s +delta entry " + i + " byte " + j);
                assertEquals(8 * g - 1, (byte) (IQ1_SFormat.LEVELS_MINUS[i] >>> 8 * j), "iq1s -delta entry " + i + " byte " + j);
            }
        for (int s = 0; s < 256; s++)
            for (int j = 0; j < 8; j++) {
                assertEquals((s >> j & 1) != 0 ? 0xFF : 0, (int) (Int8LevelFormat.SIGN_MASKS[s] >>> 8 * j) & 0xFF, "sign mask " + s + " byte " + j);
                assertEquals((s >> j & 1) != 0 ? 0x80000000 : 0, Int8LevelFormat.SIGN_BITS[8 * s + j], "sign bits " + s + " lane " + j);
            }
        int[] ksigns = IQGrids.KsignsIq2xs.TABLE;
        for (int c = 0; c < 128; c++)
            for (int j = 0; j < 8; j++) {
                assertEquals((ksigns[c] >> j & 1) != 0 ? 0xFF : 0, (int) (Int8LevelFormat.KSIGN_MASKS[c] >>> 8 * j) & 0xFF, "ksign mask " + c);
                assertEquals((ksigns[c] >> j & 1) != 0 ? 0x80000000 : 0, Int8LevelFormat.KSIGN_BITS[8 * c + j], "ksign bits " + c);
            }
    }
}
