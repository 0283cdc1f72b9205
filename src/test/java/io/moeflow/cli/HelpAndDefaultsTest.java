package io.moeflow.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.moeflow.engine.SamplingParams;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;
import picocli.CommandLine;

/** Every subcommand answers --help; `generate`, the HTTP API and the playground share one sampling default. */
class HelpAndDefaultsTest {
    private static List<List<String>> commandPaths(CommandLine command, List<String> prefix) {
        List<List<String>> paths = new ArrayList<>();
        for (var e : command.getSubcommands().entrySet()) {
            List<String> path = new ArrayList<>(prefix);
            path.add(e.getKey());
            paths.add(path);
            paths.addAll(commandPaths(e.getValue(), path));
        }
        return paths;
    }

    @Test
    void everySubcommandTakesHelp() {
        CommandLine root = new CommandLine(new Main());
        List<List<String>> paths = commandPaths(root, List.of());
        assertTrue(paths.size() >= 8, paths.toString());
        PrintStream stdout = System.out;
        for (List<String> path : paths) {
            for (String flag : new String[] {"--help", "-h"}) {
                List<String> args = new ArrayList<>(path);
                args.add(flag);
                ByteArrayOutputStream out = new ByteArrayOutputStream();
                int code;
                try {
                    System.setOut(new PrintStream(out, true, StandardCharsets.UTF_8));
                    code = Main.run(args.toArray(String[]::new));
                } finally {
                    System.setOut(stdout);
                }
                String text = out.toString(StandardCharsets.UTF_8);
                assertEquals(0, code, args + ": " + text);
                assertTrue(text.contains("Usage: moeflow " + String.join(" ", path)), args + " printed: " + text);
            }
        }
    }

    @Test
    void generateHttpAndPlaygroundShareTheSamplingDefaults() throws Exception {
        CommandLine generate = new CommandLine(new Main()).getSubcommands().get("generate");
        var spec = generate.getCommandSpec();
        assertEquals(SamplingParams.DEFAULT_TEMPERATURE, Float.parseFloat(spec.findOption("--temperature").defaultValue()));
        assertEquals(SamplingParams.DEFAULT_TOP_K, Integer.parseInt(spec.findOption("--top-k").defaultValue()));
        assertEquals(SamplingParams.DEFAULT_TOP_P, Float.parseFloat(spec.findOption("--top-p").defaultValue()));
        assertEquals(SamplingParams.DEFAULT_MIN_P, Float.parseFloat(spec.findOption("--min-p").defaultValue()));
        // The playground sends no temperature unless one is typed, so the server's default applies; its hint says which.
        String page = Files.readString(Path.of("src/main/resources/META-INF/resources/index.html"));
        Matcher input = Pattern.compile("<input id=\"temperature\"[^>]*>").matcher(page);
        assertTrue(input.find(), "no temperature field");
        assertTrue(!input.group().contains("value="), "the playground presets a temperature: " + input.group());
        Matcher placeholder = Pattern.compile("placeholder=\"([^\"]*)\"").matcher(input.group());
        assertTrue(placeholder.find() && Float.parseFloat(placeholder.group(1)) == SamplingParams.DEFAULT_TEMPERATURE, input.group());
        String docs = Files.readString(Path.of("docs/CONFIGURATION.md"));
        assertTrue(docs.contains("`temperature` (0–100, 0 = greedy, default " + fmt(SamplingParams.DEFAULT_TEMPERATURE) + ")"),
                "docs/CONFIGURATION.md states another default temperature");
    }

    private static String fmt(float f) {
        return f == Math.rint(f) ? Integer.toString((int) f) : Float.toString(f);
    }
}
