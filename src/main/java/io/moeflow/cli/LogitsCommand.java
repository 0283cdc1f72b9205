package io.moeflow.cli;

import io.moeflow.kernels.WorkerPool;
import io.moeflow.model.DecoderModel;
import io.moeflow.model.Logits;
import io.moeflow.model.Models;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

@Command(name = "logits", description = "Writes the logits of every position as float32 little-endian [n_tokens][n_vocab] (the layout of llama.cpp's golden files).")
final class LogitsCommand implements Callable<Integer> {
    @Option(names = "--model", required = true)
    Path model;

    @Option(names = "--tokens", required = true, split = ",", description = "Comma-separated token ids.")
    int[] tokens;

    @Option(names = "--out", required = true)
    Path out;

    @Option(names = "--mode", defaultValue = "batch", description = "batch (one step over all tokens) or decode (one token per step). Default: ${DEFAULT-VALUE}.")
    String mode;

    @Option(names = "--threads", defaultValue = "0", description = "Compute threads; 0 = available processors.")
    int threads;

    @Mixin
    ExpertCacheOptions expertCache = new ExpertCacheOptions();

    @Override
    public Integer call() throws IOException {
        if (!mode.equals("batch") && !mode.equals("decode"))
            throw new IllegalArgumentException("--mode must be batch or decode, got '" + mode + "'");
        try (WorkerPool pool = new WorkerPool(CliSupport.threads(threads));
             DecoderModel m = Models.load(model, pool, expertCache.config())) {
            float[] logits = Logits.compute(m, tokens, mode.equals("decode"), null);
            ByteBuffer buf = ByteBuffer.allocate(logits.length * 4).order(ByteOrder.LITTLE_ENDIAN);
            buf.asFloatBuffer().put(logits);
            Files.write(out, buf.array());
        }
        return 0;
    }
}
