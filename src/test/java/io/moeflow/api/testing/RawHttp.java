package io.moeflow.api.testing;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.net.SocketTimeoutException;
import java.nio.charset.StandardCharsets;
import java.util.LinkedHashMap;
import java.util.Locale;
import java.util.Map;

/**
 * HTTP/1.1 over a plain socket, for requests no HTTP client would send (a path over the limit, a garbage
 * Content-Length, half a request): writes bytes as given and reads one answer, or notes that the connection closed
 * without one.
 */
public final class RawHttp {
    private RawHttp() {}

    /** One answer; {@code status} is -1 when the connection closed (or timed out) before a status line. */
    public record Answer(int status, Map<String, String> headers, String body, boolean closed, long millis) {
        public String header(String name) {
            return headers.get(name.toLowerCase(Locale.ROOT));
        }

        @Override
        public String toString() {
            return status + " " + headers + " " + (body.length() > 300 ? body.substring(0, 300) + "..." : body);
        }
    }

    public static byte[] ascii(String s) {
        return s.getBytes(StandardCharsets.ISO_8859_1);
    }

    /** A request head with Host and the given extra header lines, and a body with its Content-Length. */
    public static byte[] request(String method, String path, String host, String extraHeaders, byte[] body) {
        StringBuilder head = new StringBuilder(method).append(' ').append(path).append(" HTTP/1.1\r\n")
                .append("Host: ").append(host).append("\r\n");
        if (extraHeaders != null && !extraHeaders.isEmpty()) head.append(extraHeaders);
        if (body != null) head.append("Content-Type: application/json\r\nContent-Length: ").append(body.length).append("\r\n");
        head.append("\r\n");
        byte[] h = ascii(head.toString());
        if (body == null) return h;
        byte[] all = new byte[h.length + body.length];
        System.arraycopy(h, 0, all, 0, h.length);
        System.arraycopy(body, 0, all, h.length, body.length);
        return all;
    }

    /** Sends {@code bytes} on a new connection and reads the answer (waiting at most {@code timeoutMs}). */
    public static Answer send(String host, int port, byte[] bytes, int timeoutMs) throws IOException {
        try (Socket socket = new Socket()) {
            socket.connect(new InetSocketAddress(host, port), timeoutMs);
            socket.setSoTimeout(timeoutMs);
            long start = System.nanoTime();
            OutputStream out = socket.getOutputStream();
            try {
                out.write(bytes);
                out.flush();
            } catch (IOException e) {
                // the server may answer and close before reading everything (a 431 after the first 20K)
            }
            return read(socket.getInputStream(), start);
        }
    }

    /** Reads one answer from {@code in}; a close or a read timeout before the status line gives status -1. */
    public static Answer read(InputStream in, long startNanos) throws IOException {
        ByteArrayOutputStream head = new ByteArrayOutputStream();
        boolean closed = false;
        try {
            int b;
            while ((b = in.read()) != -1) {
                head.write(b);
                byte[] h = head.toByteArray();
                int n = h.length;
                if (n >= 4 && h[n - 4] == '\r' && h[n - 3] == '\n' && h[n - 2] == '\r' && h[n - 1] == '\n') break;
            }
            if (b == -1) closed = true;
        } catch (SocketTimeoutException | java.net.SocketException e) {
            closed = true;
        }
        String text = head.toString(StandardCharsets.ISO_8859_1);
        if (!text.startsWith("HTTP/")) return new Answer(-1, Map.of(), text, true, millisSince(startNanos));
        String[] lines = text.split("\r\n");
        int status = Integer.parseInt(lines[0].split(" ")[1]);
        Map<String, String> headers = new LinkedHashMap<>();
        for (int i = 1; i < lines.length; i++) {
            int colon = lines[i].indexOf(':');
            if (colon > 0) headers.put(lines[i].substring(0, colon).trim().toLowerCase(Locale.ROOT), lines[i].substring(colon + 1).trim());
        }
        ByteArrayOutputStream body = new ByteArrayOutputStream();
        String length = headers.get("content-length");
        try {
            if (length != null) {
                int remaining = Integer.parseInt(length);
                byte[] buf = new byte[8192];
                while (remaining > 0) {
                    int r = in.read(buf, 0, Math.min(buf.length, remaining));
                    if (r < 0) break;
                    body.write(buf, 0, r);
                    remaining -= r;
                }
            } else if (!closed) {
                in.transferTo(body);
            }
        } catch (SocketTimeoutException | java.net.SocketException e) {
            closed = true;
        }
        return new Answer(status, headers, body.toString(StandardCharsets.UTF_8), closed, millisSince(startNanos));
    }

    /** Waits until the server closes {@code socket} (or {@code timeoutMs} passes); returns the wait in ms, or -1. */
    public static long awaitClose(Socket socket, int timeoutMs) throws IOException {
        long start = System.nanoTime();
        socket.setSoTimeout(timeoutMs);
        try {
            InputStream in = socket.getInputStream();
            while (in.read() != -1) {
                // an answer (408) may come before the close
            }
            return millisSince(start);
        } catch (SocketTimeoutException e) {
            return -1;
        } catch (java.net.SocketException e) {
            return millisSince(start); // reset by the server: closed as well
        }
    }

    private static long millisSince(long startNanos) {
        return (System.nanoTime() - startNanos) / 1_000_000;
    }
}
