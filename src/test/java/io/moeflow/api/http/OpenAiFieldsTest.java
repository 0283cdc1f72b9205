package io.moeflow.api.http;

import static io.restassured.RestAssured.given;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.moeflow.api.OpenAiFields;
import io.moeflow.api.OpenAiFields.Decision;
import io.moeflow.api.OpenAiFields.Endpoint;
import io.moeflow.api.testing.Ready;
import io.quarkus.test.junit.QuarkusTest;
import io.restassured.http.ContentType;
import io.restassured.response.Response;
import java.util.Map;
import java.util.stream.Stream;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * Each field of the table over HTTP: an implemented or accepted field takes a valid value; a refused one takes its
 * default and answers 400 naming it for any other value; every one of them answers 400 naming it for a value of the
 * wrong type.
 */
@QuarkusTest
class OpenAiFieldsTest {
    /** JSON values per field: {valid-or-default, refused (null: none), wrong type}, and extra fields it needs. */
    record Sample(String ok, String refused, String wrongType, String extra) {}

    static final Map<String, Sample> SAMPLES = Map.ofEntries(
            Map.entry("messages", new Sample("[{\"role\":\"user\",\"content\":\"hi\"}]", null, "\"hi\"", "")),
            Map.entry("prompt", new Sample("\"hi\"", null, "5", "")),
            Map.entry("max_tokens", new Sample("2", null, "\"2\"", "")),
            Map.entry("max_completion_tokens", new Sample("2", null, "true", "")),
            Map.entry("temperature", new Sample("0.5", null, "\"hot\"", "")),
            Map.entry("top_p", new Sample("0.9", null, "[]", "")),
            Map.entry("seed", new Sample("7", null, "\"7\"", "")),
            Map.entry("stop", new Sample("\"\\n\"", null, "5", "")),
            Map.entry("stream", new Sample("false", null, "\"yes\"", "")),
            Map.entry("stream_options", new Sample("{\"include_usage\":true}", null, "\"usage\"", ",\"stream\":true")),
            Map.entry("top_k", new Sample("5", null, "\"x\"", "")),
            Map.entry("min_p", new Sample("0.1", null, "\"x\"", "")),
            Map.entry("ignore_eos", new Sample("false", null, "1", "")),
            Map.entry("model", new Sample("\"gpt-4o\"", null, "5", "")),
            Map.entry("user", new Sample("\"u-1\"", null, "5", "")),
            Map.entry("metadata", new Sample("{\"team\":\"a\"}", null, "{\"team\":1}", "")),
            Map.entry("safety_identifier", new Sample("\"s\"", null, "5", "")),
            Map.entry("prompt_cache_key", new Sample("\"k\"", null, "5", "")),
            Map.entry("parallel_tool_calls", new Sample("true", null, "\"yes\"", "")),
            Map.entry("n", new Sample("2", null, "\"1\"", "")),
            Map.entry("frequency_penalty", new Sample("0.5", null, "\"x\"", "")),
            Map.entry("presence_penalty", new Sample("-1.5", null, "\"x\"", "")),
            Map.entry("logit_bias", new Sample("{\"383\":-100}", null, "[1]", "")),
            Map.entry("logprobs/chat", new Sample("true", null, "\"yes\"", "")),
            Map.entry("logprobs/completions", new Sample("2", null, "\"x\"", "")),
            Map.entry("top_logprobs", new Sample("5", null, "\"x\"", ",\"logprobs\":true")),
            Map.entry("repeat_penalty", new Sample("1.3", null, "\"x\"", "")),
            Map.entry("repeat_last_n", new Sample("-1", null, "\"x\"", "")),
            // the bundled model's chatml cannot show tools: accepted with tool_choice "none" here; refused without it
            // (BadInputCorpus); what they do with a template that shows them: ToolCallsHttpTest
            Map.entry("tools", new Sample("[{\"type\":\"function\",\"function\":{\"name\":\"f\"}}]", null, "{}", ",\"tool_choice\":\"none\"")),
            Map.entry("tool_choice", new Sample("\"none\"", null, "5", "")),
            Map.entry("reasoning_format", new Sample("\"none\"", null, "5", "")),
            Map.entry("functions", new Sample("[]", "[{\"name\":\"f\"}]", "{}", "")),
            Map.entry("function_call", new Sample("\"none\"", "\"auto\"", "5", "")),
            Map.entry("response_format", new Sample("{\"type\":\"json_object\"}", null, "\"json\"", "")),
            Map.entry("audio", new Sample("null", "{\"voice\":\"alloy\",\"format\":\"mp3\"}", "\"x\"", "")),
            Map.entry("modalities", new Sample("[\"text\"]", "[\"text\",\"audio\"]", "\"text\"", "")),
            Map.entry("prediction", new Sample("null", "{\"type\":\"content\",\"content\":\"x\"}", "\"x\"", "")),
            Map.entry("reasoning_effort", new Sample("null", "\"low\"", "5", "")),
            Map.entry("verbosity", new Sample("\"medium\"", "\"low\"", "5", "")),
            Map.entry("web_search_options", new Sample("null", "{}", "\"x\"", "")),
            Map.entry("service_tier", new Sample("\"auto\"", "\"priority\"", "5", "")),
            Map.entry("store", new Sample("false", "true", "\"yes\"", "")),
            Map.entry("prompt_cache_retention", new Sample("\"in-memory\"", "\"24h\"", "5", "")),
            Map.entry("chat_template_kwargs", new Sample("{\"enable_thinking\":false}", null, "\"x\"", "")),
            Map.entry("add_generation_prompt", new Sample("false", null, "\"yes\"", "")),
            Map.entry("best_of", new Sample("1", "2", "\"1\"", "")),
            Map.entry("echo", new Sample("false", "true", "\"yes\"", "")),
            Map.entry("suffix", new Sample("\"\"", "\"end\"", "5", "")));

    record FieldCase(Endpoint endpoint, OpenAiFields.Field field, Sample sample) {
        @Override
        public String toString() {
            return endpoint + " " + field.name() + " (" + field.decision() + ")";
        }
    }

    static Stream<FieldCase> cases() {
        return OpenAiFields.FIELDS.stream().flatMap(f -> f.endpoints().stream().map(e -> {
            Sample s = SAMPLES.containsKey(f.name()) ? SAMPLES.get(f.name())
                    : SAMPLES.get(f.name() + "/" + e.name().toLowerCase());
            return new FieldCase(e, f, s);
        }));
    }

    @BeforeEach
    void ready() throws InterruptedException {
        Ready.await();
    }

    private static Response send(Endpoint endpoint, String field, String value, String extra) {
        boolean chat = endpoint == Endpoint.CHAT;
        StringBuilder body = new StringBuilder("{");
        if (!field.equals("messages") && !field.equals("prompt")) {
            body.append(chat ? "\"messages\":[{\"role\":\"user\",\"content\":\"Tell a story\"}]," : "\"prompt\":\"Once upon a time\",");
        }
        if (!field.equals("max_tokens") && !field.equals("max_completion_tokens")) body.append("\"max_tokens\":1,");
        body.append('"').append(field).append("\":").append(value).append(extra).append('}');
        return given().contentType(ContentType.JSON).body(body.toString())
                .when().post(chat ? "/v1/chat/completions" : "/v1/completions");
    }

    private static void assertRefused(Response r, String field, String what) {
        assertEquals(400, r.statusCode(), what + ": " + r.asString());
        assertEquals(field, r.jsonPath().getString("error.param"), what + ": " + r.asString());
        assertEquals("invalid_request_error", r.jsonPath().getString("error.type"), what);
        assertTrue(r.jsonPath().getString("error.message").contains(field), what + ": " + r.asString());
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("cases")
    void eachFieldIsDoneOrRefusedAndItsTypeChecked(FieldCase c) {
        assertNotNull(c.sample(), "no sample values for " + c + ": every field of the table is tested");
        String name = c.field().name();
        Response ok = send(c.endpoint(), name, c.sample().ok(), c.sample().extra());
        assertEquals(200, ok.statusCode(), c + " with " + c.sample().ok() + ": " + ok.asString());
        if (c.field().decision() == Decision.REFUSED) {
            Response refused = send(c.endpoint(), name, c.sample().refused(), c.sample().extra());
            assertRefused(refused, name, c + " with " + c.sample().refused());
            assertEquals("unsupported_parameter", refused.jsonPath().getString("error.code"), c.toString());
        }
        Response wrong = send(c.endpoint(), name, c.sample().wrongType(), c.sample().extra());
        String param = wrong.jsonPath().getString("error.param");
        assertEquals(400, wrong.statusCode(), c + " with " + c.sample().wrongType() + ": " + wrong.asString());
        assertTrue(param != null && param.startsWith(name), c + " with " + c.sample().wrongType() + ": " + wrong.asString());
    }

    /** Out-of-range values of the sampling options: a 400 naming the field, never clamped. */
    @ParameterizedTest(name = "{0}")
    @org.junit.jupiter.params.provider.CsvSource(delimiter = '|', value = {
            "CHAT|presence_penalty|2.5|",
            "COMPLETIONS|frequency_penalty|-2.01|",
            "CHAT|repeat_penalty|0|",
            "COMPLETIONS|repeat_last_n|-2|",
            "CHAT|logit_bias|{\"x\":1}|",
            "CHAT|logit_bias|{\"-3\":1}|",
            "COMPLETIONS|logit_bias|{\"5\":100.5}|",
            "COMPLETIONS|logit_bias|{\"5\":\"1\"}|",
            "CHAT|logit_bias|{\"100000\":-100}|",
            "CHAT|top_logprobs|21|,\"logprobs\":true",
            "CHAT|top_logprobs|2|",
            "COMPLETIONS|logprobs|6|",
            "COMPLETIONS|logprobs|true|",
            "CHAT|n|0|",
            "COMPLETIONS|n|17|"})
    void outOfRangeSamplingOptionsAreRefusedNamingTheField(Endpoint endpoint, String field, String value, String extra) {
        Response r = send(endpoint, field, value, extra == null ? "" : extra);
        assertRefused(r, field, endpoint + " " + field + "=" + value);
    }

    @Test
    void maxCompletionTokensBoundsAChatAnswer() {
        Response r = send(Endpoint.CHAT, "max_completion_tokens", "3", ",\"ignore_eos\":true");
        assertEquals(3, r.jsonPath().getInt("usage.completion_tokens"), r.asString());
    }
}
