package io.moeflow.experts;

import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.nio.file.Path;

/**
 * Positional reads of expert bytes from the model file into cache memory. The production implementation is
 * {@link FileExpertReader}; tests substitute doubles that count reads or fail them. Safe for concurrent use.
 */
public interface ExpertReader extends AutoCloseable {
    /**
     * The alignment in bytes that the file position, the length and the destination address of every read must
     * have (the file system block size under O_DIRECT); 1 when any read is allowed.
     */
    int alignment();

    /**
     * Reads {@code dst.byteSize()} bytes from file position {@code position}, fewer only when the file ends
     * first; returns the bytes read.
     */
    long read(MemorySegment dst, long position) throws IOException;

    @Override
    void close() throws IOException;

    /** Opens a reader for one model file. */
    @FunctionalInterface
    interface Factory {
        ExpertReader open(Path file) throws IOException;
    }
}
