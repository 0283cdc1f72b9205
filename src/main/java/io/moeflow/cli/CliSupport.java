package io.moeflow.cli;

/** Small helpers shared by the subcommands. */
final class CliSupport {
    private CliSupport() {}

    static int threads(int requested) {
        if (requested < 0) throw new IllegalArgumentException("--threads must be >= 0, got " + requested);
        return requested == 0 ? Runtime.getRuntime().availableProcessors() : requested;
    }

    /** Resident set size of this process from /proc/self/status (-1 where there is none). */
    static long rssBytes() {
        try {
            for (String line : java.nio.file.Files.readAllLines(java.nio.file.Path.of("/proc/self/status")))
                if (line.startsWith("VmRSS:")) return Long.parseLong(line.replaceAll("[^0-9]", "")) * 1024;
        } catch (java.io.IOException | RuntimeException e) {
            return -1;
        }
        return -1;
    }
}
