package io.moeflow.tokenizer;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.HashMap;
import java.util.Map;

/**
 * A minimal GGUF metadata reader for the tokenizer tests until io.moeflow.gguf.GgufFile is on main
 * (reads the key/value section only, enough for the vocab-only test files).
 */
final class TestGgufMetadata implements Vocabulary.Metadata {
    private final Map<String, Object> values = new HashMap<>();

    static Vocabulary vocabulary(Path file) throws IOException {
        return Vocabulary.fromMetadata(new TestGgufMetadata(file));
    }

    TestGgufMetadata(Path file) throws IOException {
        try (FileChannel ch = FileChannel.open(file, StandardOpenOption.READ)) {
            ByteBuffer b = ch.map(FileChannel.MapMode.READ_ONLY, 0, ch.size()).order(ByteOrder.LITTLE_ENDIAN);
            if (b.getInt() != 0x46554747) {
                throw new IOException(file + " is not a GGUF file");
            }
            b.getInt(); // version
            b.getLong(); // tensor count
            long nKv = b.getLong();
            for (long i = 0; i < nKv; i++) {
                String key = string(b);
                values.put(key, value(b, b.getInt()));
            }
        }
    }

    private static String string(ByteBuffer b) {
        byte[] s = new byte[(int) b.getLong()];
        b.get(s);
        return new String(s, StandardCharsets.UTF_8);
    }

    private static Object value(ByteBuffer b, int type) throws IOException {
        return switch (type) {
            case 0 -> (long) (b.get() & 0xFF);
            case 1 -> (long) b.get();
            case 2 -> (long) (b.getShort() & 0xFFFF);
            case 3 -> (long) b.getShort();
            case 4 -> b.getInt() & 0xFFFFFFFFL;
            case 5 -> (long) b.getInt();
            case 6 -> b.getFloat();
            case 7 -> b.get() != 0;
            case 8 -> string(b);
            case 9 -> {
                int at = b.getInt();
                int n = (int) b.getLong();
                Object[] a = new Object[n];
                for (int i = 0; i < n; i++) {
                    a[i] = value(b, at);
                }
                yield a;
            }
            case 10, 11 -> b.getLong();
            case 12 -> b.getDouble();
            default -> throw new IOException("unknown GGUF value type " + type);
        };
    }

    @Override
    public String string(String key) {
        return values.get(key) instanceof String s ? s : null;
    }

    @Override
    public Long integer(String key) {
        return values.get(key) instanceof Long l ? l : null;
    }

    @Override
    public Boolean bool(String key) {
        return values.get(key) instanceof Boolean x ? x : null;
    }

    @Override
    public String[] stringArray(String key) {
        if (!(values.get(key) instanceof Object[] a)) {
            return null;
        }
        String[] r = new String[a.length];
        for (int i = 0; i < a.length; i++) {
            r[i] = (String) a[i];
        }
        return r;
    }

    @Override
    public float[] floatArray(String key) {
        if (!(values.get(key) instanceof Object[] a)) {
            return null;
        }
        float[] r = new float[a.length];
        for (int i = 0; i < a.length; i++) {
            r[i] = ((Number) a[i]).floatValue();
        }
        return r;
    }

    @Override
    public int[] intArray(String key) {
        if (!(values.get(key) instanceof Object[] a)) {
            return null;
        }
        int[] r = new int[a.length];
        for (int i = 0; i < a.length; i++) {
            r[i] = ((Number) a[i]).intValue();
        }
        return r;
    }
}
