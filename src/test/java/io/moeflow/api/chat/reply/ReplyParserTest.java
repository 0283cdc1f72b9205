package io.moeflow.api.chat.reply;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import io.moeflow.api.ChatMessage;
import io.moeflow.api.RequestParser;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Random;
import org.junit.jupiter.api.Test;

/**
 * The reply parsers on the text each family writes (the shapes of llama.cpp's tests/test-chat.cpp and the models'
 * chat templates, which write the same syntax for an assistant's earlier calls), whole and streamed: streamed in
 * every split (one character at a time, and random pieces), the deltas must add up to the whole parse, so a marker
 * split across tokens never reaches the content.
 */
class ReplyParserTest {
    static final String WEATHER = "{\"city\":\"Paris\"}";

    static ReplyParser parser(ReplyFormat format, ReplyFormat.ThinkTags think, boolean open, boolean extract, boolean tools,
                              boolean parallel) {
        JsonNode params;
        try {
            params = RequestParser.JSON.readTree("{\"type\":\"object\",\"properties\":{\"city\":{\"type\":\"string\"},"
                    + "\"days\":{\"type\":\"integer\"},\"zip\":{\"type\":\"string\"}}}");
        } catch (Exception e) {
            throw new IllegalStateException(e);
        }
        return new ReplyParser(new ReplyParser.Settings(format, think, open, extract, tools, parallel,
                Map.of("get_weather", params), "chatcmpl-test"));
    }

    static ReplyParser parser(ReplyFormat format, ReplyFormat.ThinkTags think) {
        return parser(format, think, false, true, true, true);
    }

    static final ReplyFormat.ThinkTags THINK = new ReplyFormat.ThinkTags("<think>", "</think>");

    /** Parses whole, then streams in several splits and checks that the deltas add up to the whole parse. */
    static AssistantReply parse(ReplyParser p, String text) {
        AssistantReply whole = p.parse(text, false);
        assertEquals(whole, streamed(p, text, 1), "streamed one character at a time");
        Random random = new Random(42);
        for (int round = 0; round < 20; round++) {
            List<String> pieces = new ArrayList<>();
            for (int i = 0; i < text.length(); ) {
                int n = Math.min(text.length() - i, 1 + random.nextInt(8));
                pieces.add(text.substring(i, i + n));
                i += n;
            }
            assertEquals(whole, streamed(p, pieces), "streamed in pieces " + pieces);
        }
        return whole;
    }

    static AssistantReply streamed(ReplyParser p, String text, int step) {
        List<String> pieces = new ArrayList<>();
        for (int i = 0; i < text.length(); i += step) pieces.add(text.substring(i, Math.min(text.length(), i + step)));
        return streamed(p, pieces);
    }

    static AssistantReply streamed(ReplyParser p, List<String> pieces) {
        ReplyStream stream = new ReplyStream(p);
        List<ReplyStream.Delta> deltas = new ArrayList<>();
        for (String piece : pieces) deltas.addAll(stream.push(piece));
        deltas.addAll(stream.finish());
        return assemble(deltas);
    }

    /** What a client gets by joining the deltas as the OpenAI SDKs do. */
    static AssistantReply assemble(List<ReplyStream.Delta> deltas) {
        StringBuilder reasoning = new StringBuilder();
        StringBuilder content = new StringBuilder();
        List<String[]> calls = new ArrayList<>();
        for (ReplyStream.Delta d : deltas) {
            switch (d.kind()) {
                case REASONING -> reasoning.append(d.text());
                case CONTENT -> content.append(d.text());
                case CALL_START -> {
                    assertEquals(calls.size(), d.callIndex());
                    calls.add(new String[] {d.call().id(), d.call().name(), ""});
                }
                case CALL_ARGUMENTS -> calls.get(d.callIndex())[2] += d.text();
            }
        }
        List<ChatMessage.ToolCall> out = new ArrayList<>();
        for (String[] c : calls) out.add(new ChatMessage.ToolCall(c[0], c[1], c[2]));
        return new AssistantReply(reasoning.toString(), content.toString(), out);
    }

    static void assertCalls(AssistantReply reply, String... nameThenArguments) {
        assertEquals(nameThenArguments.length / 2, reply.toolCalls().size(), "calls of " + reply);
        for (int i = 0; i < reply.toolCalls().size(); i++) {
            assertEquals(nameThenArguments[2 * i], reply.toolCalls().get(i).name());
            assertEquals(nameThenArguments[2 * i + 1], reply.toolCalls().get(i).arguments());
            assertTrue(reply.toolCalls().get(i).id().matches("call_[A-Za-z0-9]{24}"), reply.toolCalls().get(i).id());
        }
    }

    @Test
    void qwen3ReasoningThenACall() {
        AssistantReply r = parse(parser(ReplyFormat.HERMES, THINK), "<think>\nThe user wants the weather.\n</think>\n\n"
                + "<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Paris\"}}\n</tool_call>");
        assertEquals("The user wants the weather.", r.reasoning());
        assertEquals("", r.content());
        assertCalls(r, "get_weather", WEATHER);
    }

    @Test
    void qwen3ContentAndParallelCalls() {
        String text = "Let me check both.\n<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Paris\"}}\n</tool_call>\n"
                + "<tool_call>\n{\"name\": \"get_weather\", \"arguments\": \"{\\\"city\\\": \\\"Rome\\\"}\"}\n</tool_call>";
        AssistantReply r = parse(parser(ReplyFormat.HERMES, null), text);
        assertEquals("Let me check both.", r.content());
        assertCalls(r, "get_weather", WEATHER, "get_weather", "{\"city\":\"Rome\"}");
        assertFalse(r.toolCalls().get(0).id().equals(r.toolCalls().get(1).id()), "ids differ");
        // parallel_tool_calls false: the first call only
        AssistantReply one = parse(parser(ReplyFormat.HERMES, null, false, true, true, false), text);
        assertCalls(one, "get_weather", WEATHER);
        assertEquals(r.toolCalls().get(0), one.toolCalls().get(0));
    }

    @Test
    void contentBeforeACallStreamsBeforeTheCallIsComplete() {
        ReplyStream stream = new ReplyStream(parser(ReplyFormat.HERMES, null));
        List<ReplyStream.Delta> first = stream.push("Checking.<tool_");
        assertEquals(List.of(new ReplyStream.Delta(ReplyStream.Delta.Kind.CONTENT, "Checking.", -1, null)), first);
        assertEquals(List.of(), stream.push("call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Par"));
        List<ReplyStream.Delta> done = stream.push("is\"}}\n</tool_call>");
        assertEquals(2, done.size());
        assertEquals(ReplyStream.Delta.Kind.CALL_START, done.get(0).kind());
        assertEquals("get_weather", done.get(0).call().name());
        assertEquals(WEATHER, done.get(1).text());
        // "<" that is not a marker is released once it cannot be one
        ReplyStream other = new ReplyStream(parser(ReplyFormat.HERMES, null));
        List<ReplyStream.Delta> sent = new ArrayList<>(other.push("a <"));
        assertEquals("a", assemble(sent).content(), "the space and the '<' wait");
        sent.addAll(other.push("b"));
        assertEquals("a <b", assemble(sent).content());
    }

    @Test
    void qwen3CoderXmlCallsTypedByTheSchema() {
        AssistantReply r = parse(parser(ReplyFormat.HERMES, null), "<tool_call>\n<function=get_weather>\n<parameter=city>\nParis\n"
                + "</parameter>\n<parameter=days>\n3\n</parameter>\n<parameter=zip>\n75001\n</parameter>\n</function>\n</tool_call>");
        assertEquals("", r.content());
        assertCalls(r, "get_weather", "{\"city\":\"Paris\",\"days\":3,\"zip\":\"75001\"}");
    }

    @Test
    void glmArgKeyValueCalls() {
        // GLM-4.6 writes "<tool_call>NAME\n<arg_key>K</arg_key>\n<arg_value>V</arg_value>\n</tool_call>" (its template)
        AssistantReply r = parse(parser(ReplyFormat.HERMES, THINK), "<think>Weather.</think>\n<tool_call>get_weather\n<arg_key>city</arg_key>\n"
                + "<arg_value>Paris</arg_value>\n<arg_key>days</arg_key>\n<arg_value>3</arg_value>\n</tool_call>");
        assertEquals("Weather.", r.reasoning());
        assertCalls(r, "get_weather", "{\"city\":\"Paris\",\"days\":3}");
        String junk = "<tool_call>get_weather\n<arg_key>city</arg_key> stray</tool_call>";
        assertEquals(junk, parse(parser(ReplyFormat.HERMES, null), junk).content());
    }

    @Test
    void deepSeekR1CallAfterAnOpenedThinkBlock() {
        // DeepSeek-R1's newer templates end the generation prompt with "<think>\n": the text starts as reasoning.
        AssistantReply r = parse(parser(ReplyFormat.DEEPSEEK, THINK, true, true, true, true),
                "Paris, so I call the tool.\n</think>\n\n<｜tool▁calls▁begin｜><｜tool▁call▁begin｜>function<｜tool▁sep｜>get_weather\n"
                        + "```json\n{\"city\": \"Paris\"}\n```<｜tool▁call▁end｜><｜tool▁calls▁end｜>");
        assertEquals("Paris, so I call the tool.", r.reasoning());
        assertEquals("", r.content());
        assertCalls(r, "get_weather", WEATHER);
    }

    @Test
    void deepSeekV31Calls() {
        AssistantReply r = parse(parser(ReplyFormat.DEEPSEEK, THINK), "Sure.<｜tool▁calls▁begin｜><｜tool▁call▁begin｜>get_weather"
                + "<｜tool▁sep｜>{\"city\": \"Paris\"}<｜tool▁call▁end｜><｜tool▁call▁begin｜>get_weather<｜tool▁sep｜>{\"city\": \"Oslo\"}"
                + "<｜tool▁call▁end｜><｜tool▁calls▁end｜>");
        assertEquals("Sure.", r.content());
        assertCalls(r, "get_weather", WEATHER, "get_weather", "{\"city\":\"Oslo\"}");
    }

    @Test
    void kimiK2CallsKeepTheirIds() {
        AssistantReply r = parse(parser(ReplyFormat.KIMI, THINK), "<|tool_calls_section_begin|><|tool_call_begin|>functions.get_weather:0"
                + "<|tool_call_argument_begin|>{\"city\": \"Paris\"}<|tool_call_end|><|tool_calls_section_end|>");
        assertEquals(1, r.toolCalls().size());
        assertEquals(new ChatMessage.ToolCall("functions.get_weather:0", "get_weather", WEATHER), r.toolCalls().get(0));
    }

    @Test
    void mistralJsonArrayAndNameArgsForms() {
        AssistantReply array = parse(parser(ReplyFormat.MISTRAL, null),
                "[TOOL_CALLS][{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Paris\"}, \"id\": \"abc123def\"}]");
        assertEquals(List.of(new ChatMessage.ToolCall("abc123def", "get_weather", WEATHER)), array.toolCalls());
        AssistantReply named = parse(parser(ReplyFormat.MISTRAL, new ReplyFormat.ThinkTags("[THINK]", "[/THINK]")),
                "[THINK]Weather.[/THINK][TOOL_CALLS]get_weather[ARGS]{\"city\": \"Paris\"}[TOOL_CALLS]get_weather[ARGS]{\"city\": \"Oslo\"}");
        assertEquals("Weather.", named.reasoning());
        assertEquals(2, named.toolCalls().size());
        assertEquals("{\"city\":\"Oslo\"}", named.toolCalls().get(1).arguments());
        assertTrue(named.toolCalls().get(0).id().matches("[A-Za-z0-9]{9}"), "Mistral's templates need 9 alphanumerics");
    }

    @Test
    void harmonyAnalysisFinalAndCommentaryCalls() {
        ReplyParser p = parser(ReplyFormat.HARMONY, null);
        AssistantReply answer = parse(p, "<|channel|>analysis<|message|>User greets. Answer.<|end|><|start|>assistant<|channel|>final"
                + "<|message|>Hello! How can I help?");
        assertEquals("User greets. Answer.", answer.reasoning());
        assertEquals("Hello! How can I help?", answer.content());
        assertEquals(List.of(), answer.toolCalls());
        // <|call|> ends the generation (an end-of-generation token): the call's body runs to the end of the text
        AssistantReply call = parse(p, "<|channel|>analysis<|message|>Need the weather.<|end|><|start|>assistant<|channel|>commentary"
                + " to=functions.get_weather <|constrain|>json<|message|>{\"city\":\"Paris\"}");
        assertEquals("Need the weather.", call.reasoning());
        assertEquals("", call.content());
        assertCalls(call, "get_weather", WEATHER);
        // the recipient may also stand in the start header
        assertCalls(parse(p, "<|start|>assistant to=functions.get_weather<|channel|>commentary json<|message|>{\"city\":\"Paris\"}"),
                "get_weather", WEATHER);
        // a preamble on the commentary channel is content
        assertEquals("Checking.", parse(p, "<|channel|>commentary<|message|>Checking.<|end|>").content());
    }

    @Test
    void malformedCallsStayInTheContentAsWritten() {
        String bad = "<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\": }\n</tool_call>";
        AssistantReply r = parse(parser(ReplyFormat.HERMES, null), "Calling." + bad + " Done.");
        assertEquals("Calling." + bad + " Done.", r.content());
        assertEquals(List.of(), r.toolCalls());
        // cut off by the end of the generation (max_tokens): the text as written
        String cut = "<tool_call>\n{\"name\": \"get_weather\", \"argu";
        assertEquals(cut, parse(parser(ReplyFormat.HERMES, null), cut).content());
        String harmonyBad = "<|channel|>commentary to=functions.get_weather <|constrain|>json<|message|>{\"city\":";
        assertEquals(harmonyBad, parse(parser(ReplyFormat.HARMONY, null), harmonyBad).content());
        String kimiCut = "<|tool_calls_section_begin|><|tool_call_begin|>functions.get_weather:0<|tool_call_argument_begin|>{\"ci";
        assertEquals(kimiCut, parse(parser(ReplyFormat.KIMI, null), kimiCut).content());
        String mistralCut = "[TOOL_CALLS]get_weather[ARGS]{\"city\": \"Pa";
        assertEquals(mistralCut, parse(parser(ReplyFormat.MISTRAL, null), mistralCut).content());
    }

    @Test
    void reasoningInlineAndToolChoiceNone() {
        String text = "<think>\nHmm.\n</think>\n\n<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Paris\"}}\n</tool_call>";
        AssistantReply inline = parse(parser(ReplyFormat.HERMES, THINK, false, false, false, true), text);
        assertEquals(text, inline.content());
        assertEquals("", inline.reasoning());
        assertEquals(List.of(), inline.toolCalls());
        AssistantReply harmony = parse(parser(ReplyFormat.HARMONY, null, false, false, true, true),
                "<|channel|>analysis<|message|>Think.<|end|><|start|>assistant<|channel|>final<|message|>Hi");
        assertEquals("<|channel|>analysis<|message|>Think.<|end|>Hi", harmony.content());
    }

    @Test
    void aThinkBlockStillOpenAtTheEndIsReasoning() {
        assertEquals(new AssistantReply("Still thinking", "", List.of()), parse(parser(ReplyFormat.HERMES, THINK), "<think>Still thinking"));
    }

    @Test
    void withoutAFormatTheTextIsTheContentUntouched() {
        ReplyParser p = parser(ReplyFormat.CONTENT_ONLY, null);
        assertEquals(new AssistantReply("", "  <tool_call> as text \n", List.of()), parse(p, "  <tool_call> as text \n"));
    }

    @Test
    void formatsAreChosenFromTheTemplates() throws Exception {
        assertEquals(ReplyFormat.HERMES, ReplyFormat.of(template("Qwen-Qwen3-0.6B.jinja")));
        assertEquals(ReplyFormat.HERMES, ReplyFormat.of(template("Qwen3-Coder.jinja")));
        assertEquals(ReplyFormat.HERMES, ReplyFormat.of(template("GLM-4.6.jinja")));
        assertEquals(ReplyFormat.KIMI, ReplyFormat.of(template("Kimi-K2-Thinking.jinja")));
        assertEquals(ReplyFormat.MISTRAL, ReplyFormat.of(template("mistralai-Ministral-3-14B-Reasoning-2512.jinja")));
        assertEquals(new ReplyFormat.ThinkTags("[THINK]", "[/THINK]"),
                ReplyFormat.thinkTags(template("mistralai-Ministral-3-14B-Reasoning-2512.jinja")));
        assertEquals(ReplyFormat.DEEPSEEK, ReplyFormat.of(template("deepseek-ai-DeepSeek-V3.1.jinja")));
        assertEquals(ReplyFormat.DEEPSEEK, ReplyFormat.of(template("llama-cpp-deepseek-r1.jinja")));
        assertEquals(ReplyFormat.HARMONY, ReplyFormat.of(template("openai-gpt-oss-120b.jinja")));
        assertEquals(ReplyFormat.KIMI, ReplyFormat.of(template("moonshotai-Kimi-K2.jinja")));
        assertEquals(ReplyFormat.MISTRAL, ReplyFormat.of(template("mistralai-Mistral-Nemo-Instruct-2407.jinja")));
        assertEquals(ReplyFormat.CONTENT_ONLY, ReplyFormat.of(template("mistralai-Mixtral-8x7B-Instruct-v0.1-original.jinja")));
        assertEquals(THINK, ReplyFormat.thinkTags(template("Qwen-Qwen3-0.6B.jinja")));
        assertEquals(THINK, ReplyFormat.thinkTags(template("deepseek-ai-DeepSeek-V3.1.jinja")));
        assertEquals(null, ReplyFormat.thinkTags(template("openai-gpt-oss-120b.jinja")));
    }

    static String template(String file) throws Exception {
        try (var in = ReplyParserTest.class.getResourceAsStream("/chat-templates/templates/" + file)) {
            return new String(in.readAllBytes(), java.nio.charset.StandardCharsets.UTF_8);
        }
    }
}
