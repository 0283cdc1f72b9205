package io.moeflow.cli;

import io.moeflow.gguf.GgufFile;
import io.moeflow.gguf.GgufSummary;

import java.nio.file.Path;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Parameters;

@Command(name = "inspect", description = "Architecture, hyper-parameters, tokenizer, tensors and experts of a GGUF file.")
final class InspectCommand implements Callable<Integer> {
    @Parameters(index = "0", paramLabel = "MODEL.gguf")
    Path model;

    @Override
    public Integer call() {
        try (GgufFile f = GgufFile.open(model)) {
            System.out.print(GgufSummary.describe(f));
        }
        return 0;
    }
}
