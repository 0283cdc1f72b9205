package io.moeflow.loadgen;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.json.JsonMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStream;
import java.io.InputStreamReader;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.Arrays;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.TimeUnit;

/**
 * POST /v1/completions with {@code stream: true} and {@code stream_options.include_usage}, read as Server-Sent
 * Events line by line as they arrive: each chunk with text (or the finish reason) is one output arrival, the
 * usage chunk gives the token counts.
 */
public final class HttpTarget implements LoadTarget {
    private static final JsonMapper JSON = new JsonMapper();

    private final URI completions;
    private final String apiKey;
    private final Duration timeout;
    private final HttpClient client;
    /** Closes the body of a stream that runs past the timeout, so a stuck request cannot hang its worker. */
    private final ScheduledExecutorService watchdog = Executors.newSingleThreadScheduledExecutor(r -> {
        Thread t = new Thread(r, "loadgen-http-watchdog");
        t.setDaemon(true);
        return t;
    });

    public HttpTarget(URI base, String apiKey, Duration timeout) {
        String b = base.toString();
        this.completions = URI.create((b.endsWith("/") ? b.substring(0, b.length() - 1) : b) + "/v1/completions");
        this.apiKey = apiKey;
        this.timeout = timeout;
        // HTTP/1.1: one connection per stream in flight, as most OpenAI clients use the service.
        this.client = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1).connectTimeout(Duration.ofSeconds(10)).build();
    }

    @Override
    public String via() {
        return "http";
    }

    static String body(RequestSpec spec) {
        ObjectNode body = JSON.createObjectNode();
        body.put("prompt", spec.prompt());
        body.put("max_tokens", spec.maxTokens());
        body.put("ignore_eos", true); // always max_tokens tokens, as the engine bench generates
        body.put("temperature", spec.temperature());
        body.put("stream", true);
        body.putObject("stream_options").put("include_usage", true);
        return body.toString();
    }

    @Override
    public RequestTrace send(String id, RequestSpec spec) throws InterruptedException {
        HttpRequest.Builder request = HttpRequest.newBuilder(completions)
                .timeout(timeout)
                .header("Content-Type", "application/json")
                .header("Accept", "text/event-stream")
                .POST(HttpRequest.BodyPublishers.ofString(body(spec)));
        if (apiKey != null && !apiKey.isBlank()) request.header("Authorization", "Bearer " + apiKey);
        long sent = System.nanoTime();
        HttpResponse<InputStream> response;
        try {
            response = client.send(request.build(), HttpResponse.BodyHandlers.ofInputStream());
        } catch (IOException e) {
            return RequestTrace.failed(sent, "POST " + completions + " failed: " + e);
        }
        InputStream in = response.body();
        if (response.statusCode() != 200) {
            String text = readAll(in);
            return RequestTrace.failed(sent, "HTTP " + response.statusCode() + ": " + text.strip());
        }
        long remaining = Math.max(1, timeout.toNanos() - (System.nanoTime() - sent));
        // Closing the body alone may not wake a blocked read of the JDK client; the interrupt does.
        Thread worker = Thread.currentThread();
        boolean[] reading = {true}; // guarded by itself: the watchdog interrupts only while this read runs
        ScheduledFuture<?> timer = watchdog.schedule(() -> {
            synchronized (reading) {
                if (!reading[0]) return;
                reading[0] = false;
                closeQuietly(in);
                worker.interrupt();
            }
        }, remaining, TimeUnit.NANOSECONDS);
        try (BufferedReader reader = new BufferedReader(new InputStreamReader(in, StandardCharsets.UTF_8))) {
            return readStream(reader, sent);
        } catch (IOException e) {
            return RequestTrace.failed(sent, timer.isDone() ? "no end of stream within " + timeout : e.toString());
        } finally {
            timer.cancel(false);
            synchronized (reading) {
                if (!reading[0]) Thread.interrupted(); // the watchdog fired: its interrupt was only for this read
                reading[0] = false;
            }
        }
    }

    /** Reads SSE lines until [DONE]; timestamps each output chunk as it is read. */
    static RequestTrace readStream(BufferedReader reader, long sent) throws IOException {
        long[] arrivals = new long[64];
        int n = 0;
        int chunks = 0;
        int tokens = -1;
        int promptTokens = -1;
        boolean finished = false;
        // The last data lines, named in the error of a stream that ends without a finish_reason (a server bug).
        java.util.ArrayDeque<String> recent = new java.util.ArrayDeque<>();
        String line;
        while ((line = reader.readLine()) != null) {
            long now = System.nanoTime();
            if (!line.startsWith("data:")) continue; // blank separators, comments
            String data = line.substring(5).strip();
            if (recent.size() == 4) recent.removeFirst();
            recent.addLast(abbreviate(data));
            if (data.equals("[DONE]")) {
                if (!finished) {
                    return RequestTrace.failed(sent, "stream ended without a finish_reason (last data: "
                            + String.join(" | ", recent) + ")");
                }
                int count = tokens >= 0 ? tokens : chunks;
                return new RequestTrace(sent, Arrays.copyOf(arrivals, n), now, count, promptTokens, null);
            }
            JsonNode chunk;
            try {
                chunk = JSON.readTree(data);
            } catch (JsonProcessingException e) {
                return RequestTrace.failed(sent, "SSE data is not JSON: " + abbreviate(data));
            }
            if (chunk.has("error")) return RequestTrace.failed(sent, "error event: " + abbreviate(chunk.get("error").toString()));
            JsonNode usage = chunk.get("usage");
            if (usage != null && usage.isObject()) {
                tokens = usage.path("completion_tokens").asInt(-1);
                promptTokens = usage.path("prompt_tokens").asInt(-1);
            }
            JsonNode choice = chunk.path("choices").path(0);
            if (choice.isMissingNode()) continue;
            String text = choice.path("text").asText("");
            boolean last = !choice.path("finish_reason").isNull() && !choice.path("finish_reason").isMissingNode();
            if (!text.isEmpty() || last) {
                if (n == arrivals.length) arrivals = Arrays.copyOf(arrivals, n * 2);
                arrivals[n++] = now;
                chunks++;
            }
            finished |= last;
        }
        return RequestTrace.failed(sent, "stream closed before data: [DONE]");
    }

    private static String readAll(InputStream in) {
        try (in) {
            return abbreviate(new String(in.readNBytes(4096), StandardCharsets.UTF_8));
        } catch (IOException e) {
            return "(body unreadable: " + e + ")";
        }
    }

    private static String abbreviate(String s) {
        return s.length() <= 300 ? s : s.substring(0, 300) + "...";
    }

    private static void closeQuietly(InputStream in) {
        try {
            in.close();
        } catch (IOException ignored) {
            // the reader then fails and reports the timeout
        }
    }

    @Override
    public void close() {
        watchdog.shutdownNow();
        client.close();
    }
}
