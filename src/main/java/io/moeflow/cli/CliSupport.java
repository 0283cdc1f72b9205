package io.moeflow.cli;

/** Small helpers shared by the subcommands. */
final class CliSupport {
    private CliSupport() {}

    static int threads(int requested) {
        if (requested < 0) throw new IllegalArgumentException("--threads must be >= 0, got " + requested);
        return requested == 0 ? Runtime.getRuntime().availableProcessors() : requested;
    }
}
