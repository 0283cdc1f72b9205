package io.moeflow.deploy;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.regex.Pattern;

/** A Dockerfile read into stages and instructions (line continuations joined, comments dropped). */
record Dockerfile(String file, List<Stage> stages) {
    record Instruction(String keyword, String args, int line) {
        /** Words of the arguments, or the elements of a JSON array form (["a", "b"]). */
        List<String> words() {
            String a = args.trim();
            if (a.startsWith("[")) {
                List<String> out = new ArrayList<>();
                var m = Pattern.compile("\"((?:[^\"\\\\]|\\\\.)*)\"").matcher(a);
                while (m.find()) out.add(m.group(1));
                return out;
            }
            return Arrays.asList(a.split("\\s+"));
        }
    }

    record Stage(String name, String from, List<Instruction> instructions) {
        List<Instruction> all(String keyword) {
            return instructions.stream().filter(i -> i.keyword().equals(keyword)).toList();
        }

        /** The last WORKDIR of the stage. */
        String workdir() {
            List<Instruction> w = all("WORKDIR");
            return w.isEmpty() ? "/" : w.get(w.size() - 1).args().trim();
        }
    }

    /** A COPY: its flags (--from, --chown), sources and destination. */
    record Copy(String from, List<String> sources, String destination, int line) {}

    static Dockerfile parse(String file) {
        List<Stage> stages = new ArrayList<>();
        String[] lines = Repo.read(file).split("\n", -1);
        StringBuilder pending = new StringBuilder();
        int start = 0;
        Stage current = null;
        for (int n = 0; n < lines.length; n++) {
            String line = lines[n];
            if (pending.isEmpty()) {
                if (line.isBlank() || line.stripLeading().startsWith("#")) continue;
                start = n + 1;
            } else if (line.stripLeading().startsWith("#")) {
                continue; // comments inside a continued instruction
            }
            if (line.endsWith("\\")) {
                pending.append(line, 0, line.length() - 1).append(' ');
                continue;
            }
            pending.append(line);
            String text = pending.toString().trim();
            pending.setLength(0);
            String keyword = text.split("\\s+", 2)[0].toUpperCase(Locale.ROOT);
            String args = text.contains(" ") ? text.substring(text.indexOf(' ') + 1).trim() : "";
            Instruction ins = new Instruction(keyword, args, start);
            if (keyword.equals("FROM")) {
                String[] w = args.split("\\s+");
                String name = w.length >= 3 && w[1].equalsIgnoreCase("AS") ? w[2] : null;
                current = new Stage(name, w[0], new ArrayList<>());
                stages.add(current);
            } else if (current == null) {
                if (!keyword.equals("ARG")) throw new AssertionError(file + ":" + start + ": " + keyword + " before FROM");
                continue;
            }
            current.instructions().add(ins);
        }
        if (stages.isEmpty()) throw new AssertionError(file + " has no FROM");
        return new Dockerfile(file, List.copyOf(stages));
    }

    Stage last() {
        return stages.get(stages.size() - 1);
    }

    Stage stage(String name) {
        return stages.stream().filter(s -> name.equals(s.name())).findFirst()
                .orElseThrow(() -> new AssertionError(file + " has no stage " + name));
    }

    static List<Copy> copies(Stage stage) {
        List<Copy> out = new ArrayList<>();
        for (Instruction i : stage.all("COPY")) {
            List<String> w = new ArrayList<>(i.words());
            String from = null;
            while (!w.isEmpty() && w.get(0).startsWith("--")) {
                String flag = w.remove(0);
                if (flag.startsWith("--from=")) from = flag.substring("--from=".length());
            }
            if (w.size() < 2) throw new AssertionError("COPY without source and destination at line " + i.line());
            out.add(new Copy(from, List.copyOf(w.subList(0, w.size() - 1)), w.get(w.size() - 1), i.line()));
        }
        return out;
    }
}
