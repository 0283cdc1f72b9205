package io.moeflow.cli;

import picocli.CommandLine;
import picocli.CommandLine.Command;

/** Entry point of the command-line tools ({@code ./moeflow <subcommand>}); the service starts through Quarkus. */
@Command(name = "moeflow", mixinStandardHelpOptions = true, version = "moeflow 0.1.0",
        description = "Mixture-of-Experts inference on CPU servers.",
        subcommands = {InspectCommand.class, LogitsCommand.class, GenerateCommand.class, SynthCommand.class,
                BenchCommand.class, LoadgenCommand.class, TopicsCommand.class, CommandLine.HelpCommand.class})
public final class Main implements Runnable {
    @Override
    public void run() {
        CommandLine.usage(this, System.out);
    }

    public static void main(String[] args) {
        System.exit(run(args));
    }

    /** Runs a command line and returns its exit code; errors print one clear line, not a stack trace. */
    public static int run(String... args) {
        CommandLine cl = new CommandLine(new Main());
        addHelpOption(cl);
        cl.setExecutionExceptionHandler((e, cmd, parsed) -> {
            cmd.getErr().println("moeflow: " + (e.getMessage() != null ? e.getMessage() : e.toString()));
            if (Boolean.getBoolean("moeflow.debug")) e.printStackTrace(cmd.getErr());
            return 2;
        });
        return cl.execute(args);
    }

    /** Every subcommand (and theirs) takes -h/--help, whether or not its class asks for it. */
    static void addHelpOption(CommandLine command) {
        CommandLine.Model.CommandSpec spec = command.getCommandSpec();
        if (spec.findOption("--help") == null) {
            spec.addOption(CommandLine.Model.OptionSpec.builder("-h", "--help").usageHelp(true)
                    .description("Show this help message and exit.").build());
        }
        command.getSubcommands().values().forEach(Main::addHelpOption);
    }
}
