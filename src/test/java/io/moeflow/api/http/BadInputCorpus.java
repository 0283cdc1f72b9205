package io.moeflow.api.http;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.moeflow.api.testing.RawHttp;
import java.io.IOException;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.EnumMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicReference;

/**
 * Sends a corpus of bad HTTP input to a running moeflow service and reports, for each case, whether the answer was a
 * clear error (the expected status and an OpenAI-shaped error whose message names the problem), an unclear one (any
 * other answer, acceptance included), or a crash (a 5xx, or no answer where one was due). Meanwhile a well-formed
 * greedy request is sent again and again: every one of its answers must be exactly its first answer, or the bad
 * input harmed it.
 *
 * <p>Run by {@code BadInputCorpusTest} against the test service; against a running service:
 * {@code scripts/bad-input-corpus.sh [--url http://localhost:8080] [--api-key KEY] [--header-timeout-ms N]
 * [--body-timeout-ms N]} (slow-client cases run only when their bound is given: the defaults are 30 and 60 s).
 */
public final class BadInputCorpus {
    public enum Outcome { CLEAR, UNCLEAR, CRASH }

    /** What a case expects: a status, and (for JSON errors) words of the message and the param (null: none). */
    record Expect(int status, String messageContains, String param, boolean closeOnly) {
        static Expect error(int status, String messageContains, String param) {
            return new Expect(status, messageContains, param, false);
        }

        static Expect error(int status, String messageContains) {
            return new Expect(status, messageContains, null, false);
        }

        /** A good answer: the input is valid (client text that only looks like something else). */
        static Expect ok() {
            return new Expect(200, null, null, false);
        }

        /** The server closes the connection (a half-sent request), within the bound. */
        static Expect closed() {
            return new Expect(-1, null, null, true);
        }
    }

    /** One bad input: how to send it and what a clear answer is. */
    record Case(String name, Sender sender, Expect expect) {}

    interface Sender {
        RawHttp.Answer send(BadInputCorpus corpus) throws IOException, InterruptedException;
    }

    public record Result(String name, Outcome outcome, RawHttp.Answer answer, String why) {}

    public record Report(List<Result> results, int concurrentRequests, int harmed, String firstHarm) {
        public Map<Outcome, Integer> counts() {
            Map<Outcome, Integer> counts = new EnumMap<>(Outcome.class);
            for (Outcome o : Outcome.values()) counts.put(o, 0);
            for (Result r : results) counts.merge(r.outcome(), 1, Integer::sum);
            return counts;
        }

        public boolean allClear() {
            return harmed == 0 && results.stream().allMatch(r -> r.outcome() == Outcome.CLEAR);
        }

        public String table() {
            StringBuilder out = new StringBuilder();
            for (Result r : results) {
                out.append(String.format("%-8s %-58s %s%n", r.outcome(), r.name(),
                        r.outcome() == Outcome.CLEAR ? r.answer().status() : r.why() + " | " + r.answer()));
            }
            out.append("counts: ").append(counts()).append(", concurrent well-formed requests: ").append(concurrentRequests)
                    .append(", harmed: ").append(harmed).append(firstHarm == null ? "" : " (first: " + firstHarm + ")");
            return out.toString();
        }
    }

    private static final ObjectMapper JSON = new ObjectMapper();
    private static final String GOOD = "{\"prompt\":\"Once upon a time\",\"max_tokens\":24,\"temperature\":0}";

    private final String host;
    private final int port;
    private final String apiKey;
    private final long headerTimeoutMs;
    private final long bodyTimeoutMs;
    private final int answerTimeoutMs = 15_000;

    /** {@code headerTimeoutMs}/{@code bodyTimeoutMs}: the service's bounds, or 0 to skip the slow-client cases. */
    public BadInputCorpus(URI base, String apiKey, long headerTimeoutMs, long bodyTimeoutMs) {
        this.host = base.getHost();
        this.port = base.getPort() > 0 ? base.getPort() : 80;
        this.apiKey = apiKey;
        this.headerTimeoutMs = headerTimeoutMs;
        this.bodyTimeoutMs = bodyTimeoutMs;
    }

    private String auth() {
        return apiKey == null ? "" : "Authorization: Bearer " + apiKey + "\r\n";
    }

    private RawHttp.Answer post(String path, byte[] body) throws IOException {
        return RawHttp.send(host, port, RawHttp.request("POST", path, host + ":" + port, auth(), body), answerTimeoutMs);
    }

    private RawHttp.Answer raw(String bytes) throws IOException {
        return RawHttp.send(host, port, RawHttp.ascii(bytes), answerTimeoutMs);
    }

    private static Case completion(String name, String body, Expect expect) {
        return new Case(name, c -> c.post("/v1/completions", body.getBytes(StandardCharsets.UTF_8)), expect);
    }

    private static Case chat(String name, String body, Expect expect) {
        return new Case(name, c -> c.post("/v1/chat/completions", body.getBytes(StandardCharsets.UTF_8)), expect);
    }

    private static Case bytes(String name, byte[] body, Expect expect) {
        return new Case(name, c -> c.post("/v1/completions", body), expect);
    }

    private static byte[] concat(String before, byte[] middle, String after) {
        byte[] a = before.getBytes(StandardCharsets.UTF_8);
        byte[] c = after.getBytes(StandardCharsets.UTF_8);
        byte[] all = new byte[a.length + middle.length + c.length];
        System.arraycopy(a, 0, all, 0, a.length);
        System.arraycopy(middle, 0, all, a.length, middle.length);
        System.arraycopy(c, 0, all, a.length + middle.length, c.length);
        return all;
    }

    private static final String MSG = "{\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}],\"max_tokens\":1";

    /** Every case: bodies, then the HTTP layer (limits, framing, routes, methods), then slow clients. */
    List<Case> cases() {
        List<Case> cases = new ArrayList<>(List.of(
                // the body
                completion("empty body", "", Expect.error(400, "empty")),
                completion("whitespace body", " \n ", Expect.error(400, "empty")),
                completion("truncated JSON", "{\"prompt\": ", Expect.error(400, "not valid JSON")),
                completion("JSON array body", "[1,2]", Expect.error(400, "JSON object")),
                completion("JSON string body", "\"hi\"", Expect.error(400, "JSON object")),
                completion("trailing garbage", "{\"prompt\":\"hi\",\"max_tokens\":1} x", Expect.error(400, "more after")),
                completion("two JSON objects", "{\"prompt\":\"hi\"}{\"prompt\":\"b\"}", Expect.error(400, "more after")),
                completion("duplicate key", "{\"prompt\":\"a\",\"prompt\":\"b\",\"max_tokens\":1}", Expect.error(400, "more than once", "prompt")),
                bytes("invalid UTF-8", concat("{\"prompt\":\"a", new byte[] {(byte) 0xC3, 0x28}, "\"}"), Expect.error(400, "UTF-8")),
                bytes("overlong UTF-8", concat("{\"prompt\":\"a", new byte[] {(byte) 0xC0, (byte) 0xAF}, "\"}"), Expect.error(400, "UTF-8")),
                bytes("UTF-8 encoded surrogate", concat("{\"prompt\":\"a", new byte[] {(byte) 0xED, (byte) 0xA0, (byte) 0x80}, "\"}"), Expect.error(400, "UTF-8")),
                completion("lone high surrogate escape", "{\"prompt\":\"a\\ud800b\"}", Expect.error(400, "surrogate", "prompt")),
                chat("lone low surrogate in chat", "{\"messages\":[{\"role\":\"user\",\"content\":\"\\udc00\"}]}", Expect.error(400, "surrogate", "messages[0].content")),
                completion("deep nesting", "{\"prompt\":\"hi\",\"x\":" + "[".repeat(5000) + "]".repeat(5000) + "}", Expect.error(400, "")),
                completion("NaN temperature", "{\"prompt\":\"hi\",\"temperature\":NaN}", Expect.error(400, "finite", "temperature")),
                completion("huge exponent temperature", "{\"prompt\":\"hi\",\"temperature\":1e999999}", Expect.error(400, "temperature", "temperature")),
                completion("temperature string", "{\"prompt\":\"hi\",\"temperature\":\"hot\"}", Expect.error(400, "must be a number", "temperature")),
                completion("negative max_tokens", "{\"prompt\":\"hi\",\"max_tokens\":-1}", Expect.error(400, ">= 1", "max_tokens")),
                completion("fractional max_tokens", "{\"prompt\":\"hi\",\"max_tokens\":1.5}", Expect.error(400, "integer", "max_tokens")),
                completion("seed out of range", "{\"prompt\":\"hi\",\"seed\":1e30}", Expect.error(400, "64-bit", "seed")),
                completion("empty prompt", "{\"prompt\":\"\"}", Expect.error(400, "empty", "prompt")),
                completion("no prompt", "{\"max_tokens\":3}", Expect.error(400, "required", "prompt")),
                completion("token-id prompt", "{\"prompt\":[1,2,3]}", Expect.error(400, "string", "prompt")),
                completion("prompt beyond the context", "{\"prompt\":\"" + "word ".repeat(5000) + "\"}", Expect.error(400, "context", "prompt")),
                completion("stop of numbers", "{\"prompt\":\"hi\",\"stop\":[1]}", Expect.error(400, "stop must be", "stop")),
                completion("stream not boolean", "{\"prompt\":\"hi\",\"stream\":\"yes\"}", Expect.error(400, "boolean", "stream")),
                completion("stream_options without stream", "{\"prompt\":\"hi\",\"stream_options\":{\"include_usage\":true}}", Expect.error(400, "stream is true", "stream_options")),
                completion("include_obfuscation", "{\"prompt\":\"hi\",\"stream\":true,\"stream_options\":{\"include_obfuscation\":true}}", Expect.error(400, "not supported", "stream_options.include_obfuscation")),
                completion("unknown field", "{\"prompt\":\"hi\",\"frobnicate\":1}", Expect.error(400, "Unrecognized", "frobnicate")),
                completion("chat field on completions", "{\"prompt\":\"hi\",\"tools\":[]}", Expect.error(400, "Unrecognized", "tools")),
                completion("n = 0", "{\"prompt\":\"hi\",\"n\":0}", Expect.error(400, "must be", "n")),
                completion("n over the limit", "{\"prompt\":\"hi\",\"n\":100000}", Expect.error(400, "moeflow.limits.max-choices", "n")),
                completion("best_of = 2", "{\"prompt\":\"hi\",\"best_of\":2}", Expect.error(400, "not supported", "best_of")),
                completion("echo", "{\"prompt\":\"hi\",\"echo\":true}", Expect.error(400, "not supported", "echo")),
                completion("suffix", "{\"prompt\":\"hi\",\"suffix\":\"end\"}", Expect.error(400, "not supported", "suffix")),
                completion("logprobs (completions) over 5", "{\"prompt\":\"hi\",\"logprobs\":6}", Expect.error(400, "must be", "logprobs")),
                completion("presence_penalty 99", "{\"prompt\":\"hi\",\"presence_penalty\":99}", Expect.error(400, "must be in [-2.0, 2.0]", "presence_penalty")),
                completion("presence_penalty string", "{\"prompt\":\"hi\",\"presence_penalty\":\"x\"}", Expect.error(400, "must be a number", "presence_penalty")),
                completion("frequency_penalty -3", "{\"prompt\":\"hi\",\"frequency_penalty\":-3}", Expect.error(400, "must be in [-2.0, 2.0]", "frequency_penalty")),
                completion("logit_bias of a token outside the vocabulary", "{\"prompt\":\"hi\",\"logit_bias\":{\"999999999\":-100}}", Expect.error(400, "vocabulary", "logit_bias")),
                completion("logit_bias not a token id", "{\"prompt\":\"hi\",\"logit_bias\":{\"abc\":-100}}", Expect.error(400, "token ids", "logit_bias")),
                chat("no messages", "{\"messages\":[]}", Expect.error(400, "empty", "messages")),
                chat("messages not an array", "{\"messages\":\"hi\"}", Expect.error(400, "array", "messages")),
                chat("message without role", "{\"messages\":[{\"content\":\"hi\"}]}", Expect.error(400, "role", "messages[0].role")),
                chat("message with unknown key", "{\"messages\":[{\"role\":\"user\",\"content\":\"hi\",\"mood\":1}]}", Expect.error(400, "Unrecognized", "messages[0].mood")),
                chat("message with a tool call that is not a function", "{\"messages\":[{\"role\":\"assistant\",\"content\":\"\",\"tool_calls\":[{\"id\":\"1\"}]},{\"role\":\"user\",\"content\":\"hi\"}]}",
                        Expect.error(400, "must be \"function\"", "messages[0].tool_calls[0].type")),
                chat("message with function_call", "{\"messages\":[{\"role\":\"assistant\",\"content\":\"\",\"function_call\":{\"name\":\"f\"}},{\"role\":\"user\",\"content\":\"hi\"}]}",
                        Expect.error(400, "not supported", "messages[0].function_call")),
                chat("image part", "{\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":\"image_url\",\"image_url\":{\"url\":\"x\"}}]}]}", Expect.error(400, "text", "messages[0].content")),
                chat("tools for a template that cannot show them", MSG + ",\"tools\":[{\"type\":\"function\",\"function\":{\"name\":\"f\"}}]}",
                        Expect.error(400, "not supported by this model", "tools")),
                chat("tool without a name", MSG + ",\"tools\":[{\"type\":\"function\",\"function\":{}}]}", Expect.error(400, "name", "tools[0].function.name")),
                chat("tool_choice required without tools", MSG + ",\"tool_choice\":\"required\"}", Expect.error(400, "needs tools", "tool_choice")),
                chat("response_format with a schema keyword it cannot enforce", MSG + ",\"response_format\":{\"type\":\"json_schema\",\"json_schema\":{\"name\":\"x\",\"schema\":{\"type\":\"string\",\"pattern\":\"^a\"}}}}",
                        Expect.error(400, "'pattern' cannot be enforced", "response_format.json_schema.schema")),
                chat("response_format of an unknown type", MSG + ",\"response_format\":{\"type\":\"yaml\"}}", Expect.error(400, "json_schema", "response_format.type")),
                chat("logprobs (chat) not a boolean", MSG + ",\"logprobs\":3}", Expect.error(400, "boolean", "logprobs")),
                chat("top_logprobs without logprobs", MSG + ",\"top_logprobs\":5}", Expect.error(400, "top_logprobs requires", "top_logprobs")),
                chat("enable_thinking as a string", MSG + ",\"chat_template_kwargs\":{\"enable_thinking\":\"no\"}}", Expect.error(400, "boolean", "chat_template_kwargs.enable_thinking")),
                chat("template syntax in content is text", "{\"messages\":[{\"role\":\"user\",\"content\":\"{{ raise_exception('x' ~ (7*7)) }}{% for i in range(9) %}\"}],\"max_tokens\":1}",
                        Expect.ok()),
                chat("completions field on chat", MSG + ",\"echo\":true}", Expect.error(400, "Unrecognized", "echo")),
                new Case("body over the limit", c -> c.post("/v1/completions",
                        ("{\"prompt\":\"" + "a".repeat(1_100_000) + "\"}").getBytes(StandardCharsets.UTF_8)), Expect.error(413, "limit")),
                new Case("Content-Length over the limit, no body", c -> c.raw("POST /v1/completions HTTP/1.1\r\nHost: " + c.host + "\r\n"
                        + c.auth() + "Content-Type: application/json\r\nContent-Length: 104857600\r\n\r\n"), Expect.error(413, "limit")),
                new Case("Expect 100-continue over the limit", c -> c.raw("POST /v1/completions HTTP/1.1\r\nHost: " + c.host + "\r\n"
                        + c.auth() + "Content-Type: application/json\r\nExpect: 100-continue\r\nContent-Length: 104857600\r\n\r\n"), Expect.error(413, "limit")),
                new Case("chunked body over the limit", c -> c.raw("POST /v1/completions HTTP/1.1\r\nHost: x\r\n" + c.auth()
                        + "Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
                        + ("1000\r\n" + "a".repeat(4096) + "\r\n").repeat(300) + "0\r\n\r\n"), Expect.error(413, "limit")),
                // routes and methods
                new Case("unknown /v1 route", c -> c.raw("GET /v1/nope HTTP/1.1\r\nHost: x\r\n" + c.auth() + "\r\n"), Expect.error(404, "unknown route")),
                new Case("unknown route", c -> c.raw("POST /nope HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n"), Expect.error(404, "unknown route")),
                new Case("unknown model", c -> c.raw("GET /v1/models/gpt-4o HTTP/1.1\r\nHost: x\r\n" + c.auth() + "\r\n"), Expect.error(404, "does not exist", "model")),
                new Case("GET on a POST route", c -> c.raw("GET /v1/completions HTTP/1.1\r\nHost: x\r\n" + c.auth() + "\r\n"), Expect.error(405, "POST")),
                new Case("DELETE /v1/models", c -> c.raw("DELETE /v1/models HTTP/1.1\r\nHost: x\r\n" + c.auth() + "\r\n"), Expect.error(405, "GET")),
                new Case("PUT /health", c -> c.raw("PUT /health HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n"), Expect.error(405, "GET")),
                new Case("unknown method", c -> c.raw("FROB /v1/models HTTP/1.1\r\nHost: x\r\n" + c.auth() + "\r\n"), Expect.error(405, "FROB")),
                new Case("cross-origin page", c -> c.raw("POST /v1/completions HTTP/1.1\r\nHost: x\r\nOrigin: https://evil.example\r\n"
                        + c.auth() + "Content-Type: application/json\r\nContent-Length: 2\r\n\r\n{}"), Expect.error(403, "origin")),
                new Case("cross-origin preflight", c -> c.raw("OPTIONS /v1/completions HTTP/1.1\r\nHost: x\r\nOrigin: https://evil.example\r\n"
                        + "Access-Control-Request-Method: POST\r\n\r\n"), Expect.error(403, "origin")),
                // limits and framing Vert.x enforces before the router
                new Case("path over the limit", c -> c.raw("GET /v1/" + "a".repeat(9000) + " HTTP/1.1\r\nHost: x\r\n\r\n"), Expect.error(414, "request line")),
                new Case("header over the limit", c -> c.raw("GET /health HTTP/1.1\r\nHost: x\r\nX-Big: " + "b".repeat(30_000) + "\r\n\r\n"), Expect.error(431, "headers")),
                new Case("many headers over the limit", c -> c.raw("GET /health HTTP/1.1\r\nHost: x\r\n" + "X-H: 0123456789abcdef\r\n".repeat(1500) + "\r\n"), Expect.error(431, "headers")),
                new Case("garbage Content-Length", c -> c.raw("POST /v1/completions HTTP/1.1\r\nHost: x\r\n" + c.auth() + "Content-Length: abc\r\n\r\n{}"), Expect.error(400, "Content-Length")),
                new Case("negative Content-Length", c -> c.raw("POST /v1/completions HTTP/1.1\r\nHost: x\r\n" + c.auth() + "Content-Length: -5\r\n\r\n{}"), Expect.error(400, "Content-Length")),
                new Case("two Content-Lengths", c -> c.raw("POST /v1/completions HTTP/1.1\r\nHost: x\r\n" + c.auth() + "Content-Length: 2\r\nContent-Length: 3\r\n\r\n{}"), Expect.error(400, "Content-Length")),
                new Case("garbage request line", c -> c.raw("HELLO\r\n\r\n"), Expect.error(400, "malformed")),
                new Case("invalid percent-encoding", c -> c.raw("GET /v1/%zz HTTP/1.1\r\nHost: x\r\n" + c.auth() + "\r\n"), Expect.error(400, "URI")),
                new Case("braces in the path", c -> c.raw("GET /v1/{models} HTTP/1.1\r\nHost: x\r\n" + c.auth() + "\r\n"), Expect.error(400, "URI")),
                new Case("no Host header", c -> c.raw("GET /v1/models HTTP/1.1\r\n" + c.auth() + "\r\n"), Expect.error(400, "Host")),
                new Case("invalid Host header", c -> c.raw("GET /v1/models HTTP/1.1\r\nHost: a b\r\n" + c.auth() + "\r\n"), Expect.error(400, "Host")),
                new Case("bad chunk size", c -> c.raw("POST /v1/completions HTTP/1.1\r\nHost: x\r\n" + c.auth()
                        + "Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n{}\r\n0\r\n\r\n"), Expect.error(400, "malformed")),
                new Case("disconnect mid-body", BadInputCorpus::disconnectMidBody, Expect.error(200, ""))));
        if (apiKey != null) {
            cases.add(new Case("wrong API key", c -> c.raw("GET /v1/models HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer wrong\r\n\r\n"), Expect.error(401, "API key")));
            cases.add(new Case("metrics without a key", c -> c.raw("GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n"), Expect.error(401, "API key")));
        }
        if (headerTimeoutMs > 0) {
            cases.add(new Case("half-sent headers", BadInputCorpus::halfHeaders, Expect.closed()));
        }
        if (bodyTimeoutMs > 0) {
            cases.add(new Case("trickled body", BadInputCorpus::trickledBody, Expect.error(408, "did not arrive")));
        }
        return cases;
    }

    /** A client that sends half its body and goes away: no answer is due; the service must go on (health 200). */
    private static RawHttp.Answer disconnectMidBody(BadInputCorpus c) throws IOException {
        try (Socket socket = new Socket()) {
            socket.connect(new InetSocketAddress(c.host, c.port), c.answerTimeoutMs);
            OutputStream out = socket.getOutputStream();
            out.write(RawHttp.ascii("POST /v1/completions HTTP/1.1\r\nHost: x\r\n" + c.auth()
                    + "Content-Type: application/json\r\nContent-Length: 1000\r\n\r\n{\"prompt\":\"Once"));
            out.flush();
            try {
                Thread.sleep(200);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }
        return c.raw("GET /health HTTP/1.1\r\nHost: x\r\n\r\n");
    }

    /** Half a request head, then nothing: the service must close the connection within its header timeout. */
    private static RawHttp.Answer halfHeaders(BadInputCorpus c) throws IOException {
        try (Socket socket = new Socket()) {
            socket.connect(new InetSocketAddress(c.host, c.port), c.answerTimeoutMs);
            socket.getOutputStream().write(RawHttp.ascii("GET /health HTTP/1.1\r\nHost: x\r\nX-Partial: 1"));
            socket.getOutputStream().flush();
            long waited = RawHttp.awaitClose(socket, (int) (c.headerTimeoutMs * 3 + 5000));
            String body = waited < 0 ? "not closed" : "closed after " + waited + " ms";
            boolean inBound = waited >= 0 && waited <= c.headerTimeoutMs + 3000;
            return new RawHttp.Answer(-1, Map.of(), inBound ? "closed in bound" : body, waited >= 0, waited);
        }
    }

    /** A body sent a byte at a time, slower than the body timeout allows: a 408 within the bound. */
    private static RawHttp.Answer trickledBody(BadInputCorpus c) throws IOException {
        try (Socket socket = new Socket()) {
            socket.connect(new InetSocketAddress(c.host, c.port), c.answerTimeoutMs);
            socket.setSoTimeout((int) (c.bodyTimeoutMs * 3 + 5000));
            OutputStream out = socket.getOutputStream();
            int length = (int) (c.bodyTimeoutMs / 300) + 20; // a byte per 0.3 s: longer than the bound
            out.write(RawHttp.ascii("POST /v1/completions HTTP/1.1\r\nHost: x\r\n" + c.auth()
                    + "Content-Type: application/json\r\nContent-Length: " + length + "\r\n\r\n"));
            out.flush();
            long start = System.nanoTime();
            AtomicBoolean stop = new AtomicBoolean();
            Thread trickle = Thread.ofVirtual().start(() -> {
                try {
                    for (int i = 0; i < length && !stop.get(); i++) {
                        out.write('{');
                        out.flush();
                        Thread.sleep(300);
                    }
                } catch (IOException | InterruptedException e) {
                    // closed by the server: expected
                }
            });
            RawHttp.Answer answer = RawHttp.read(socket.getInputStream(), start);
            stop.set(true);
            trickle.interrupt();
            if (answer.millis() > c.bodyTimeoutMs + 3000) {
                return new RawHttp.Answer(answer.status(), answer.headers(), "answered after " + answer.millis() + " ms: " + answer.body(),
                        answer.closed(), answer.millis());
            }
            return answer;
        }
    }

    /** Runs every case while a well-formed request is sent again and again beside them. */
    public Report run() throws Exception {
        String expected = good();
        if (expected == null) throw new IllegalStateException("the well-formed request fails before any bad input was sent");
        AtomicBoolean done = new AtomicBoolean();
        AtomicInteger concurrent = new AtomicInteger();
        AtomicInteger harmed = new AtomicInteger();
        AtomicReference<String> firstHarm = new AtomicReference<>();
        Thread beside = Thread.ofPlatform().name("corpus-well-formed").start(() -> {
            while (!done.get()) {
                String got;
                try {
                    got = good();
                } catch (Exception e) {
                    got = "failed: " + e;
                }
                concurrent.incrementAndGet();
                if (!expected.equals(got)) {
                    harmed.incrementAndGet();
                    firstHarm.compareAndSet(null, String.valueOf(got));
                }
            }
        });
        List<Result> results = new ArrayList<>();
        try {
            for (Case c : cases()) results.add(judge(c));
        } finally {
            done.set(true);
            beside.join();
        }
        return new Report(results, concurrent.get(), harmed.get(), firstHarm.get());
    }

    /** The text and usage of the well-formed request, or null when it did not answer 200. */
    private String good() throws IOException {
        RawHttp.Answer a = post("/v1/completions", GOOD.getBytes(StandardCharsets.UTF_8));
        if (a.status() != 200) return null;
        JsonNode json = JSON.readTree(a.body());
        return json.at("/choices/0/text").asText() + "|" + json.get("usage");
    }

    private Result judge(Case c) {
        RawHttp.Answer a;
        try {
            a = c.sender().send(this);
        } catch (Exception e) {
            return new Result(c.name(), Outcome.CRASH, new RawHttp.Answer(-1, Map.of(), String.valueOf(e), true, 0), "no answer: " + e);
        }
        Expect e = c.expect();
        if (e.closeOnly()) {
            return a.closed() && "closed in bound".equals(a.body())
                    ? new Result(c.name(), Outcome.CLEAR, a, "")
                    : new Result(c.name(), Outcome.UNCLEAR, a, "the connection was not closed within the bound");
        }
        if (a.status() < 0) return new Result(c.name(), Outcome.CRASH, a, "no answer");
        if (a.status() >= 500) return new Result(c.name(), Outcome.CRASH, a, "server error");
        if (a.status() != e.status()) return new Result(c.name(), Outcome.UNCLEAR, a, "expected " + e.status());
        if (e.status() == 200) return new Result(c.name(), Outcome.CLEAR, a, "");
        JsonNode error;
        try {
            error = JSON.readTree(a.body()).get("error");
        } catch (IOException ex) {
            return new Result(c.name(), Outcome.UNCLEAR, a, "not JSON");
        }
        if (error == null || !error.path("message").isTextual() || error.path("message").asText().isBlank()
                || !error.path("type").isTextual() || !error.has("param") || !error.has("code")) {
            return new Result(c.name(), Outcome.UNCLEAR, a, "not an OpenAI error object");
        }
        String message = error.path("message").asText();
        if (!message.toLowerCase().contains(e.messageContains().toLowerCase())) {
            return new Result(c.name(), Outcome.UNCLEAR, a, "the message does not say \"" + e.messageContains() + "\"");
        }
        if (e.param() != null && !e.param().equals(error.path("param").asText(null))) {
            return new Result(c.name(), Outcome.UNCLEAR, a, "param is not " + e.param());
        }
        if (e.status() == 405 && a.header("Allow") == null && !c.name().equals("unknown method")) {
            return new Result(c.name(), Outcome.UNCLEAR, a, "405 without Allow");
        }
        return new Result(c.name(), Outcome.CLEAR, a, "");
    }

    public static void main(String[] args) throws Exception {
        String url = "http://localhost:8080";
        String key = System.getenv("MOEFLOW_API_KEY");
        long header = 0;
        long body = 0;
        for (int i = 0; i < args.length; i++) {
            switch (args[i]) {
                case "--url" -> url = args[++i];
                case "--api-key" -> key = args[++i];
                case "--header-timeout-ms" -> header = Long.parseLong(args[++i]);
                case "--body-timeout-ms" -> body = Long.parseLong(args[++i]);
                case "-h", "--help" -> {
                    System.out.println("usage: bad-input-corpus [--url http://localhost:8080] [--api-key KEY]"
                            + " [--header-timeout-ms N] [--body-timeout-ms N]");
                    return;
                }
                default -> throw new IllegalArgumentException("unknown option " + args[i] + " (try --help)");
            }
        }
        Report report = new BadInputCorpus(URI.create(url), key == null || key.isBlank() ? null : key, header, body).run();
        System.out.println(report.table());
        System.exit(report.allClear() ? 0 : 1);
    }
}
