package io.moeflow.deploy;

import java.util.ArrayList;
import java.util.List;
import java.util.regex.Pattern;

/**
 * The .dockerignore rules as Docker applies them: patterns are matched against paths relative to the build
 * context with '*' and '?' inside one path segment and '**' across segments; a pattern that matches a folder
 * covers everything in it; the last matching pattern wins, and '!' re-includes.
 */
final class DockerIgnore {
    private record Rule(Pattern pattern, boolean include) {}

    private final List<Rule> rules = new ArrayList<>();

    DockerIgnore(String text) {
        for (String line : text.split("\n")) {
            String l = line.trim();
            if (l.isEmpty() || l.startsWith("#")) continue;
            boolean include = l.startsWith("!");
            if (include) l = l.substring(1).trim();
            while (l.startsWith("/")) l = l.substring(1);
            while (l.endsWith("/")) l = l.substring(0, l.length() - 1);
            rules.add(new Rule(Pattern.compile(regex(l)), include));
        }
    }

    private static String regex(String glob) {
        StringBuilder r = new StringBuilder();
        for (int i = 0; i < glob.length(); i++) {
            char c = glob.charAt(i);
            if (c == '*' && i + 1 < glob.length() && glob.charAt(i + 1) == '*') {
                r.append(".*");
                i++;
                if (i + 1 < glob.length() && glob.charAt(i + 1) == '/') i++;
            } else if (c == '*') {
                r.append("[^/]*");
            } else if (c == '?') {
                r.append("[^/]");
            } else {
                r.append(Pattern.quote(String.valueOf(c)));
            }
        }
        return r.toString();
    }

    /** True when {@code path} (relative to the context, '/'-separated) is left out of the build context. */
    boolean excluded(String path) {
        boolean excluded = false;
        for (Rule rule : rules) {
            if (matchesItselfOrParent(rule.pattern(), path)) excluded = !rule.include();
        }
        return excluded;
    }

    private static boolean matchesItselfOrParent(Pattern p, String path) {
        String cur = path;
        while (true) {
            if (p.matcher(cur).matches()) return true;
            int slash = cur.lastIndexOf('/');
            if (slash < 0) return false;
            cur = cur.substring(0, slash);
        }
    }
}
