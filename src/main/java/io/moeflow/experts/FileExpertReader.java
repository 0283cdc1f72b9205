package io.moeflow.experts;

import com.sun.nio.file.ExtendedOpenOption;
import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.concurrent.atomic.AtomicBoolean;

/**
 * Reads experts with {@link FileChannel} positional reads. With {@code direct} it opens the file with O_DIRECT
 * ({@link ExtendedOpenOption#DIRECT}), so reads bypass the page cache and the cache budget is the real memory
 * cost; where the file system refuses O_DIRECT it falls back to plain reads and says so once per process.
 */
public final class FileExpertReader implements ExpertReader {
    private static final System.Logger LOG = System.getLogger(FileExpertReader.class.getName());
    private static final AtomicBoolean FALLBACK_LOGGED = new AtomicBoolean();

    private final FileChannel channel;
    private final int alignment;

    private FileExpertReader(FileChannel channel, int alignment) {
        this.channel = channel;
        this.alignment = alignment;
    }

    /** A factory opening files with O_DIRECT when {@code direct} and the file system allows it. */
    public static ExpertReader.Factory factory(boolean direct) {
        return file -> open(file, direct);
    }

    public static FileExpertReader open(Path file, boolean direct) throws IOException {
        if (direct) {
            try {
                long block = Files.getFileStore(file).getBlockSize();
                if (block > 0 && block <= (1 << 16) && Long.bitCount(block) == 1) {
                    FileChannel ch = FileChannel.open(file, StandardOpenOption.READ, ExtendedOpenOption.DIRECT);
                    return new FileExpertReader(ch, (int) block);
                }
                logFallback(file, "block size " + block + " is unusable for aligned reads");
            } catch (IOException | UnsupportedOperationException e) {
                logFallback(file, e.toString());
            }
        }
        return new FileExpertReader(FileChannel.open(file, StandardOpenOption.READ), 1);
    }

    private static void logFallback(Path file, String why) {
        if (FALLBACK_LOGGED.compareAndSet(false, true))
            LOG.log(System.Logger.Level.WARNING, "O_DIRECT is not available for " + file + " (" + why
                    + "); expert reads go through the page cache, which may then hold more than the cache budget");
    }

    /** Whether reads bypass the page cache. */
    public boolean direct() {
        return alignment > 1;
    }

    @Override
    public int alignment() {
        return alignment;
    }

    @Override
    public long read(MemorySegment dst, long position) throws IOException {
        ByteBuffer buf = dst.asByteBuffer();
        long done = 0;
        while (buf.hasRemaining()) {
            int n = channel.read(buf, position + done);
            if (n < 0) break;
            // O_DIRECT reads stop only at end of file or on error; a partial read of an unaligned tail ends the loop
            if (n == 0 || (alignment > 1 && (n % alignment) != 0)) {
                done += n;
                break;
            }
            done += n;
        }
        return done;
    }

    @Override
    public void close() throws IOException {
        channel.close();
    }
}
