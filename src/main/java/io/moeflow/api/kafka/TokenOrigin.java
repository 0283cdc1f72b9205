package io.moeflow.api.kafka;

import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.regex.Pattern;
import org.apache.kafka.common.header.Header;
import org.apache.kafka.common.header.Headers;
import org.apache.kafka.common.header.internals.RecordHeader;

/**
 * Where a generation's token events come from, written as Kafka headers on each of them (see
 * kafka-topics/schemas/token-event-headers.schema.json): the prompt record that asked for it (null for HTTP), the
 * client's W3C {@code traceparent} when it sent a valid one, and whether the events are a replay of a finished
 * request's events for a rerun of its id.
 */
public record TokenOrigin(String promptRecord, String traceparent, boolean replay) {
    public static final String CONTENT_TYPE = "content-type";
    public static final String JSON = "application/json";
    public static final String REQUEST_ID = "moeflow-request-id";
    public static final String TRACEPARENT = "traceparent";
    public static final String PROMPT_RECORD = "moeflow-prompt-record";
    public static final String REPLAY = "moeflow-replay";

    /** W3C Trace Context, version 00: 00-<32 hex trace id>-<16 hex parent id>-<2 hex flags>, ids not all zero. */
    private static final Pattern TRACEPARENT_FORMAT = Pattern.compile("00-(?!0{32})[0-9a-f]{32}-(?!0{16})[0-9a-f]{16}-[0-9a-f]{2}");

    public static final TokenOrigin NONE = new TokenOrigin(null, null, false);

    public static TokenOrigin http(String traceparent) {
        return new TokenOrigin(null, validTraceparent(traceparent), false);
    }

    /** A prompt record, named {@code topic-partition@offset} (unique within a cluster). */
    public static TokenOrigin kafka(String topic, int partition, long offset, String traceparent) {
        return new TokenOrigin(topic + "-" + partition + "@" + offset, validTraceparent(traceparent), false);
    }

    public TokenOrigin replayed() {
        return new TokenOrigin(promptRecord, traceparent, true);
    }

    /** The value when it is a valid W3C traceparent (a client's header is data: anything else is dropped), else null. */
    public static String validTraceparent(String value) {
        return value != null && value.length() == 55 && TRACEPARENT_FORMAT.matcher(value).matches() ? value : null;
    }

    /** The last value of {@code name} in {@code headers} as UTF-8, or null. */
    public static String header(Headers headers, String name) {
        Header h = headers == null ? null : headers.lastHeader(name);
        return h == null || h.value() == null ? null : new String(h.value(), StandardCharsets.UTF_8);
    }

    /** The headers of one event of request {@code requestId}. */
    public List<RecordHeader> headers(String requestId) {
        List<RecordHeader> headers = new ArrayList<>(5);
        headers.add(utf8(CONTENT_TYPE, JSON));
        headers.add(utf8(REQUEST_ID, requestId));
        if (traceparent != null) headers.add(utf8(TRACEPARENT, traceparent));
        if (promptRecord != null) headers.add(utf8(PROMPT_RECORD, promptRecord));
        if (replay) headers.add(utf8(REPLAY, "true"));
        return headers;
    }

    private static RecordHeader utf8(String name, String value) {
        return new RecordHeader(name, value.getBytes(StandardCharsets.UTF_8));
    }
}
