package io.moeflow.experts;

import java.nio.file.Path;

/** Reading a routed expert from the model file failed (I/O error, short read, or a changed file); the step fails. */
public final class ExpertReadException extends RuntimeException {
    private final int layer, expert;
    private final transient Path file;

    public ExpertReadException(int layer, int expert, Path file, String what, Throwable cause) {
        super("reading expert " + expert + " of layer " + layer + " from " + file + " failed: " + what, cause);
        this.layer = layer;
        this.expert = expert;
        this.file = file;
    }

    public int layer() { return layer; }

    public int expert() { return expert; }

    public Path file() { return file; }
}
