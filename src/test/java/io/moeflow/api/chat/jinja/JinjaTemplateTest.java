package io.moeflow.api.chat.jinja;

import static org.junit.jupiter.api.Assertions.assertEquals;

import com.fasterxml.jackson.databind.JsonNode;
import io.moeflow.api.RequestParser;
import java.io.IOException;
import java.io.InputStream;
import java.time.LocalDateTime;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/**
 * The interpreter against Python's jinja2 on small templates (jinja-cases.json, derived by derive_jinja_cases.py):
 * whitespace control, lexing, operators, Python's str/repr/float formatting, scoping, loops, macros, filters,
 * tests, methods, tojson, globals and syntax errors. Each case's output must be the same, byte for byte; where
 * jinja2 raises, moeflow must raise too.
 */
class JinjaTemplateTest {
    @Test
    void smallTemplatesRenderExactlyAsJinja2() throws IOException {
        JsonNode cases;
        try (InputStream in = JinjaTemplateTest.class.getResourceAsStream("/chat-templates/jinja-cases.json")) {
            cases = RequestParser.JSON.readTree(in);
        }
        LocalDateTime now = LocalDateTime.parse(cases.get("now").asText());
        Map<String, Object> context = new LinkedHashMap<>();
        cases.get("context").properties().forEach(e -> context.put(e.getKey(), TemplateValues.fromJson(e.getValue())));
        int total = 0;
        int same = 0;
        List<String> differences = new ArrayList<>();
        for (JsonNode c : cases.get("cases")) {
            String source = c.get("template").asText();
            String got;
            try {
                got = JinjaTemplate.parse(source).render(new LinkedHashMap<>(context), RenderLimits.DEFAULT, () -> now, null);
            } catch (TemplateException e) {
                got = null;
            }
            total++;
            boolean match = c.has("output") ? c.get("output").asText().equals(got) : got == null;
            if (match) {
                same++;
            } else {
                differences.add(source.replace("\n", "\\n") + "\n      want " + (c.has("output") ? c.get("output").asText() : c.get("error").asText()).replace("\n", "\\n")
                        + "\n      got  " + (got == null ? "an error" : got.replace("\n", "\\n")));
            }
        }
        System.out.printf("jinja cases: %d of %d as jinja2%n", same, total);
        assertEquals(total, same, "differences from jinja2:\n" + String.join("\n", differences));
    }
}
