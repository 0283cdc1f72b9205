package io.moeflow.api;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.moeflow.api.kafka.PromptRecord;
import io.moeflow.api.kafka.UnparseableRecordException;
import java.nio.charset.StandardCharsets;
import java.util.List;
import org.junit.jupiter.api.Test;

class RequestParserTest {
    private final RequestParser parser = new RequestParser(100, 4);

    private PromptSpec completion(String json) {
        return parser.completion(RequestParser.parseObject(json));
    }

    private void rejects(String json, String param, String message) {
        InvalidRequestException e = assertThrows(InvalidRequestException.class,
                () -> parser.promptOrMessages(RequestParser.parseObject(json)), json);
        assertEquals(param, e.param(), json);
        assertTrue(e.getMessage().contains(message), json + " -> " + e.getMessage());
    }

    @Test
    void readsEveryParameter() {
        PromptSpec spec = completion("""
                {"prompt":["Hello"],"max_tokens":12,"temperature":0.5,"top_p":0.9,"top_k":40,"min_p":0.1,"seed":-3,
                 "stop":"\\n","n":1,"model":"anything","logprobs":null}""");
        assertEquals("Hello", spec.prompt());
        assertEquals(12, spec.maxTokens());
        assertEquals(0.5f, spec.temperature());
        assertEquals(0.9f, spec.topP());
        assertEquals(40, spec.topK());
        assertEquals(0.1f, spec.minP());
        assertEquals(-3L, spec.seed());
        assertEquals(List.of("\n"), spec.stop());
        assertEquals(false, spec.ignoreEos());
        assertEquals(true, completion("{\"prompt\":\"x\",\"ignore_eos\":true}").ignoreEos());
        PromptSpec defaults = completion("{\"prompt\":\"x\",\"max_tokens\":null}");
        assertNull(defaults.maxTokens());
        assertNull(defaults.temperature());
        assertEquals(List.of(), defaults.stop());
        assertEquals(7, completion("{\"prompt\":\"x\",\"max_tokens\":7.0}").maxTokens());
    }

    @Test
    void chatMessagesWithTextParts() {
        PromptSpec spec = parser.chat(RequestParser.parseObject("""
                {"messages":[{"role":"user","content":[{"type":"text","text":"a"},{"type":"text","text":"b"}]},
                             {"role":"assistant","content":null}],"max_completion_tokens":3}"""));
        assertEquals(List.of(new ChatMessage("user", null, List.of("a", "b"), null, null, null, List.of()),
                new ChatMessage("assistant", "")), spec.messages());
        assertEquals("a\nb", spec.messages().getFirst().content()); // joined as llama.cpp joins text parts
        assertEquals(3, spec.maxTokens());
    }

    @Test
    void namesTheFieldOfEveryBadValue() {
        rejects("{\"prompt\":\"x\",\"max_tokens\":0}", "max_tokens", ">= 1");
        rejects("{\"prompt\":\"x\",\"ignore_eos\":\"yes\"}", "ignore_eos", "must be a boolean");
        rejects("{\"prompt\":\"x\",\"max_tokens\":1e12}", "max_tokens", "<=");
        rejects("{\"prompt\":\"x\",\"max_tokens\":true}", "max_tokens", "integer");
        rejects("{\"prompt\":\"x\",\"temperature\":-0.1}", "temperature", "[0.0, 100.0]");
        rejects("{\"prompt\":\"x\",\"temperature\":Infinity}", "temperature", "finite");
        rejects("{\"prompt\":\"x\",\"top_p\":1.5}", "top_p", "(0.0, 1.0]");
        rejects("{\"prompt\":\"x\",\"min_p\":-1}", "min_p", "[0.0, 1.0]");
        rejects("{\"prompt\":\"x\",\"top_k\":-1}", "top_k", ">= 0");
        rejects("{\"prompt\":\"x\",\"seed\":\"7\"}", "seed", "64-bit integer");
        rejects("{\"prompt\":\"x\",\"stop\":[\"a\",\"b\",\"c\",\"d\",\"e\"]}", "stop", "at most 4");
        rejects("{\"prompt\":\"x\",\"stop\":[\"\"]}", "stop", "must not be empty");
        rejects("{\"prompt\":[\"a\",\"b\"]}", "prompt", "exactly one string");
        rejects("{\"prompt\":\"" + "x".repeat(101) + "\"}", "prompt", "limit of 100");
        rejects("{\"messages\":[{\"role\":\"user\",\"content\":\"" + "x".repeat(101) + "\"}]}", "messages", "limit of 100");
        rejects("{\"messages\":[{\"role\":\"user\",\"content\":\"\"}]}", "messages", "every message is empty");
        rejects("{\"messages\":[{\"role\":\"user\",\"content\":5}]}", "messages[0].content", "string or an array");
        rejects("{\"messages\":[7]}", "messages[0]", "must be an object");
        rejects("{}", "prompt", "\"prompt\" is required");
    }

    @Test
    void unreadableRecordsAreToldApartFromBadValues() {
        record Bad(byte[] value, String reason) {}
        List<Bad> bad = List.of(
                new Bad(null, "no value"),
                new Bad(new byte[] {(byte) 0xFF, '{'}, "not valid UTF-8"),
                new Bad("{\"id\":".getBytes(StandardCharsets.UTF_8), "not valid JSON"),
                new Bad("\"text\"".getBytes(StandardCharsets.UTF_8), "must be a JSON object"),
                new Bad("{\"id\":\"\"}".getBytes(StandardCharsets.UTF_8), "non-empty string"),
                new Bad(("{\"id\":\"" + "i".repeat(300) + "\"}").getBytes(StandardCharsets.UTF_8), "longer than 256"));
        for (Bad b : bad) {
            UnparseableRecordException e = assertThrows(UnparseableRecordException.class, () -> PromptRecord.parse(b.value()));
            assertTrue(e.getMessage().contains(b.reason()), e.getMessage());
        }
        PromptRecord ok = PromptRecord.parse("{\"id\":\"r1\",\"max_tokens\":-5}".getBytes(StandardCharsets.UTF_8));
        assertEquals("r1", ok.id());
        assertEquals(ok.defaultSeed(), PromptRecord.parse("{\"id\":\"r1\"}".getBytes(StandardCharsets.UTF_8)).defaultSeed(),
                "the default seed depends on the id only");
    }

    private static InvalidRequestException parseFails(byte[] body) {
        return assertThrows(InvalidRequestException.class, () -> RequestParser.parseObject(body));
    }

    private static InvalidRequestException parseFails(String body) {
        return parseFails(body == null ? null : body.getBytes(StandardCharsets.UTF_8));
    }

    @Test
    void anEmptyBodyIsNamedAsSuch() {
        for (String body : new String[] {null, "", "  \n "}) {
            assertTrue(parseFails(body).getMessage().contains("request body is empty"), String.valueOf(body));
        }
    }

    @Test
    void trailingDataAndRepeatedKeysAreRefused() {
        InvalidRequestException trailing = parseFails("{\"prompt\":\"hi\"} x");
        assertTrue(trailing.getMessage().contains("more after its JSON value"), trailing.getMessage());
        assertTrue(parseFails("{\"prompt\":\"a\"}{\"prompt\":\"b\"}").getMessage().contains("more after"));
        InvalidRequestException duplicate = parseFails("{\"prompt\":\"a\",\"max_tokens\":1,\"prompt\":\"b\"}");
        assertEquals("prompt", duplicate.param());
        assertTrue(duplicate.getMessage().contains("\"prompt\" more than once"), duplicate.getMessage());
        InvalidRequestException nested = parseFails("{\"messages\":[{\"role\":\"user\",\"role\":\"system\"}]}");
        assertEquals("role", nested.param());
        // whitespace after the value is not trailing data
        assertEquals("hi", RequestParser.parseObject("{\"prompt\":\"hi\"}\r\n ").get("prompt").textValue());
    }

    @Test
    void invalidUtf8AndUnpairedSurrogatesAreRefusedNotReplaced() {
        byte[] prefix = "{\"prompt\":\"a".getBytes(StandardCharsets.UTF_8);
        for (byte[] bad : List.of(new byte[] {(byte) 0xC3, 0x28}, new byte[] {(byte) 0xC0, (byte) 0xAF},
                new byte[] {(byte) 0xED, (byte) 0xA0, (byte) 0x80}, new byte[] {(byte) 0xFF})) {
            byte[] body = new byte[prefix.length + bad.length + 2];
            System.arraycopy(prefix, 0, body, 0, prefix.length);
            System.arraycopy(bad, 0, body, prefix.length, bad.length);
            body[body.length - 2] = '"';
            body[body.length - 1] = '}';
            InvalidRequestException e = parseFails(body);
            assertTrue(e.getMessage().contains("not valid UTF-8") && e.getMessage().contains("byte offset " + prefix.length), e.getMessage());
        }
        InvalidRequestException lone = parseFails("{\"prompt\":\"a\\ud800b\"}");
        assertEquals("prompt", lone.param());
        assertTrue(lone.getMessage().contains("unpaired UTF-16 surrogate (\\ud800) at character 1"), lone.getMessage());
        InvalidRequestException low = parseFails("{\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":\"text\",\"text\":\"\\udc00\"}]}]}");
        assertEquals("messages[0].content[0].text", low.param());
        assertTrue(parseFails("{\"\\ud800\":1}").getMessage().contains("surrogate"), "a key is checked too");
        // a pair is text (U+1F600), in either spelling
        assertEquals("\uD83D\uDE00", RequestParser.parseObject("{\"prompt\":\"\\ud83d\\ude00\"}").get("prompt").textValue());
        assertEquals("\uD83D\uDE00", RequestParser.parseObject("{\"prompt\":\"\uD83D\uDE00\"}".getBytes(StandardCharsets.UTF_8)).get("prompt").textValue());
    }

    @Test
    void kafkaRecordsAreReadAsStrictly() {
        UnparseableRecordException e = assertThrows(UnparseableRecordException.class,
                () -> PromptRecord.parse("{\"id\":\"a\",\"id\":\"b\",\"prompt\":\"x\"}".getBytes(StandardCharsets.UTF_8)));
        assertTrue(e.getMessage().contains("Duplicate field 'id'"), e.getMessage());
        assertThrows(UnparseableRecordException.class,
                () -> PromptRecord.parse("{\"id\":\"a\",\"prompt\":\"x\"} {}".getBytes(StandardCharsets.UTF_8)));
        rejects("{\"id\":\"a\",\"prompt\":\"\\udfff\"}", "prompt", "surrogate");
    }

    @Test
    void kafkaPromptsRefuseWhatIsNotDoneAndIgnoreUnknownFields() {
        rejects("{\"id\":\"a\",\"prompt\":\"x\",\"logit_bias\":{\"383\":-101}}", "logit_bias", "[-100, 100]");
        rejects("{\"id\":\"a\",\"prompt\":\"x\",\"logit_bias\":{\"a\":1}}", "logit_bias", "token ids");
        rejects("{\"id\":\"a\",\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"top_logprobs\":2}", "top_logprobs", "requires");
        rejects("{\"id\":\"a\",\"prompt\":\"x\",\"presence_penalty\":\"x\"}", "presence_penalty", "must be a number");
        rejects("{\"id\":\"a\",\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"tools\":[{}]}", "tools[0].type", "must be \"function\"");
        rejects("{\"id\":\"a\",\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"tool_choice\":\"required\"}", "tool_choice", "not supported");
        rejects("{\"id\":\"a\",\"prompt\":\"x\",\"n\":3}", "n", "not supported");
        // the tokens topic carries the raw text: the fields that say how a reply is read are HTTP-only
        rejects("{\"id\":\"a\",\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"reasoning_format\":\"none\"}", "reasoning_format", "Kafka");
        rejects("{\"id\":\"a\",\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"parallel_tool_calls\":false}", "parallel_tool_calls", "Kafka");
        PromptSpec spec = parser.promptOrMessages(RequestParser.parseObject(
                "{\"id\":\"a\",\"prompt\":\"x\",\"trace\":{\"any\":1},\"n\":1,\"tools\":[]}"));
        assertEquals("x", spec.prompt());
        PromptSpec sampled = parser.promptOrMessages(RequestParser.parseObject("{\"id\":\"a\",\"prompt\":\"x\","
                + "\"logit_bias\":{\"383\":-100,\"7\":2.5},\"presence_penalty\":0.5,\"frequency_penalty\":-1,"
                + "\"repeat_penalty\":1.1,\"repeat_last_n\":-1,\"logprobs\":3}"));
        assertEquals(new SamplingOptions(0.5f, -1f, 1.1f, -1, java.util.Map.of(383, -100f, 7, 2.5f), 3, 1), sampled.sampling());
        PromptSpec chat = parser.promptOrMessages(RequestParser.parseObject("{\"id\":\"a\",\"messages\":[{\"role\":\"user\","
                + "\"content\":\"x\"}],\"logprobs\":true,\"top_logprobs\":4}"));
        assertEquals(4, chat.sampling().logprobs());
    }

    @Test
    void messagesCarryWhatTheChatTemplateTakes() {
        rejects("{\"messages\":[{\"role\":\"user\",\"content\":\"x\",\"mood\":\"sad\"}]}", "messages[0].mood", "Unrecognized");
        rejects("{\"messages\":[{\"role\":\"assistant\",\"content\":\"\",\"function_call\":{\"name\":\"f\"}},"
                + "{\"role\":\"user\",\"content\":\"x\"}]}", "messages[0].function_call", "not supported");
        rejects("{\"messages\":[{\"role\":\"assistant\",\"content\":\"\",\"tool_calls\":[{\"id\":\"c\"}]},"
                + "{\"role\":\"user\",\"content\":\"x\"}]}", "messages[0].tool_calls[0].type", "must be \"function\"");
        PromptSpec spec = parser.chat(RequestParser.parseObject(
                "{\"messages\":[{\"role\":\"assistant\",\"content\":\"a\",\"tool_calls\":[],\"refusal\":null}]}"));
        assertEquals(List.of(new ChatMessage("assistant", "a")), spec.messages());
        PromptSpec tools = parser.chat(RequestParser.parseObject("""
                {"messages":[{"role":"user","content":"x","name":"bob"},
                  {"role":"assistant","content":null,"reasoning_content":"r","tool_calls":[
                    {"id":"c1","type":"function","function":{"name":"f","arguments":{"a":1}}}]},
                  {"role":"tool","tool_call_id":"c1","content":"3"}]}"""));
        assertEquals(List.of(new ChatMessage("user", "x", null, null, "bob", null, List.of()),
                new ChatMessage("assistant", "", null, "r", null, null, List.of(new ChatMessage.ToolCall("c1", "f", "{\"a\":1}"))),
                new ChatMessage("tool", "3", null, null, null, "c1", List.of())), tools.messages());
    }

    @Test
    void responseFormatIsReadForPromptsAndMessagesAlike() {
        PromptSpec none = completion("{\"prompt\":\"hi\"}");
        assertEquals(ResponseFormat.TEXT, none.responseFormat());
        PromptSpec text = completion("{\"prompt\":\"hi\",\"response_format\":{\"type\":\"text\"}}");
        assertTrue(!text.responseFormat().constrained());
        PromptSpec object = parser.promptOrMessages(RequestParser.parseObject(
                "{\"id\":\"k\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}],\"response_format\":{\"type\":\"json_object\"}}"));
        assertEquals("json_object", object.responseFormat().type());
        assertTrue(object.responseFormat().constrained());
        String schema = "{\"type\":\"object\",\"properties\":{\"a\":{\"type\":\"integer\"}},\"required\":[\"a\"]}";
        PromptSpec a = parser.promptOrMessages(RequestParser.parseObject("{\"id\":\"k\",\"prompt\":\"hi\",\"response_format\":"
                + "{\"type\":\"json_schema\",\"json_schema\":{\"name\":\"a\",\"strict\":true,\"schema\":" + schema + "}}}"));
        PromptSpec b = parser.promptOrMessages(RequestParser.parseObject("{\"id\":\"k\",\"prompt\":\"hi\",\"response_format\":"
                + "{\"type\":\"json_schema\",\"json_schema\":{\"name\":\"b\",\"schema\":" + schema + "}}}"));
        assertEquals(a.responseFormat().key(), b.responseFormat().key(), "the same schema shares one compiled constraint");
        io.moeflow.engine.grammar.CompiledGrammar g = io.moeflow.engine.grammar.Grammar.compile(a.responseFormat().grammar());
        assertTrue(g.matches("{\"a\": 12}".getBytes(StandardCharsets.UTF_8)));
        assertTrue(!g.matches("{\"a\": \"12\"}".getBytes(StandardCharsets.UTF_8)));

        rejects("{\"id\":\"k\",\"prompt\":\"hi\",\"response_format\":\"json\"}", "response_format", "must be an object");
        rejects("{\"id\":\"k\",\"prompt\":\"hi\",\"response_format\":{\"type\":\"json_object\",\"schema\":{}}}",
                "response_format.schema", "Unrecognized");
        rejects("{\"id\":\"k\",\"prompt\":\"hi\",\"response_format\":{\"type\":\"json_schema\"}}", "response_format.json_schema",
                "name and schema");
        rejects("{\"id\":\"k\",\"prompt\":\"hi\",\"response_format\":{\"type\":\"json_schema\",\"json_schema\":{\"name\":\"a b\"}}}",
                "response_format.json_schema.name", "letters");
        rejects("{\"id\":\"k\",\"prompt\":\"hi\",\"response_format\":{\"type\":\"json_schema\",\"json_schema\":{\"name\":\"a\","
                + "\"strict\":\"yes\"}}}", "response_format.json_schema.strict", "boolean");
        rejects("{\"id\":\"k\",\"prompt\":\"hi\",\"response_format\":{\"type\":\"json_schema\",\"json_schema\":{\"name\":\"a\","
                + "\"schema\":{\"type\":\"string\",\"pattern\":\"x\"}}}}", "response_format.json_schema.schema", "'pattern'");
    }
}
