package io.moeflow.cli;

import java.util.concurrent.Callable;
import picocli.CommandLine.Command;

@Command(name = "synth", description = "(being built)")
final class SynthCommand implements Callable<Integer> {
    @Override
    public Integer call() {
        throw new UnsupportedOperationException("synth is not available yet");
    }
}
