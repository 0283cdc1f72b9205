package io.moeflow.experts;

import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.BasicFileAttributes;
import java.nio.file.attribute.FileTime;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The files an {@link ExpertStore} reads experts from (every part of a split model that holds an expert tensor),
 * one {@link ExpertReader} per file, and the guard that refuses a file changed since it was opened.
 *
 * <p>Locking: none needed. Everything is fixed at construction; {@link #read} runs on several I/O threads at once
 * (positional reads into distinct slots), and {@link #close} runs once, after the I/O threads stopped.
 */
final class ExpertFiles implements AutoCloseable {
    private static final System.Logger LOG = System.getLogger(ExpertFiles.class.getName());

    /** One file as it was when opened. */
    private record Source(Path file, long size, FileTime modified, ExpertReader reader) {}

    private final Map<Path, Source> sources = new LinkedHashMap<>();
    private final int align;

    /** Opens a reader for every file holding one of the layers' expert tensors. */
    ExpertFiles(List<ExpertStore.LayerSpec> specs, ExpertReader.Factory readers) {
        Path first = specs.get(0).gate().file();
        int alignment = 1;
        try {
            for (ExpertStore.LayerSpec s : specs)
                for (ExpertSlice x : new ExpertSlice[] {s.gate(), s.up(), s.down()}) {
                    if (sources.containsKey(x.file())) continue;
                    BasicFileAttributes a = Files.readAttributes(x.file(), BasicFileAttributes.class);
                    ExpertReader r = readers.open(x.file());
                    sources.put(x.file(), new Source(x.file(), a.size(), a.lastModifiedTime(), r));
                    alignment = Math.max(alignment, r.alignment()); // powers of two: the largest suits every file
                }
        } catch (IOException e) {
            close();
            throw new IllegalArgumentException("cannot open " + first + " for expert reads: " + e.getMessage(), e);
        }
        align = alignment;
    }

    /** The alignment every read's position, length and buffer keep (the largest of the readers'); 1 for buffered reads. */
    int alignment() {
        return align;
    }

    /**
     * Reads expert {@code expert}'s three matrices of {@code layer} into {@code slot}, each from the file holding
     * it and each covering the aligned range around the matrix; returns the bytes read.
     */
    long read(CachedLayer layer, int expert, MemorySegment slot) throws IOException {
        long total = 0;
        Source checked = null;
        for (int i = 0; i < 3; i++) {
            ExpertSlice x = layer.slice(i);
            Source src = sources.get(x.file());
            if (src != checked) { // once per file and read
                checkUnchanged(src);
                checked = src;
            }
            long pos = x.fileOffset(expert), len = x.bytes();
            long start = pos - pos % align, end = roundUp(pos + len, align);
            long need = pos + len - start;
            long got;
            try {
                got = src.reader().read(slot.asSlice(layer.region(i), end - start), start);
            } catch (IOException e) {
                throw new ReadFailure(src.file(), x.describe() + " at offset " + start + ": " + e.getMessage(), e);
            }
            if (got < need)
                throw new ReadFailure(src.file(), "short read of " + x.describe() + ": " + got + " of " + need + " bytes at offset " + start
                        + " (file size " + src.size() + ")", null);
            total += got;
        }
        return total;
    }

    private static void checkUnchanged(Source src) throws IOException {
        BasicFileAttributes a = Files.readAttributes(src.file(), BasicFileAttributes.class);
        if (a.size() != src.size() || !a.lastModifiedTime().equals(src.modified()))
            throw new ReadFailure(src.file(), "the model file " + src.file() + " changed since it was opened (size " + src.size() + " -> " + a.size()
                    + " bytes, modified " + src.modified() + " -> " + a.lastModifiedTime() + "); refusing to read experts from it", null);
    }

    @Override
    public void close() {
        for (Source src : sources.values()) {
            try {
                src.reader().close();
            } catch (IOException e) {
                LOG.log(System.Logger.Level.WARNING, "closing the expert reader of " + src.file() + " failed: " + e);
            }
        }
    }

    static long roundUp(long v, long a) {
        return (v + a - 1) / a * a;
    }

    /** A failed expert read, knowing the file it was read from (one part of a split model). */
    static final class ReadFailure extends IOException {
        final transient Path file;

        ReadFailure(Path file, String message, Throwable cause) {
            super(message, cause);
            this.file = file;
        }
    }
}
