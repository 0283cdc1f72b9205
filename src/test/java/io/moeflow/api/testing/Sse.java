package io.moeflow.api.testing;

import java.util.ArrayList;
import java.util.List;

/** Splits a Server-Sent Events body into the payloads of its {@code data:} lines. */
public final class Sse {
    private Sse() {}

    public static List<String> data(String body) {
        List<String> data = new ArrayList<>();
        for (String line : body.split("\n")) {
            if (line.startsWith("data: ")) data.add(line.substring(6));
        }
        return data;
    }
}
