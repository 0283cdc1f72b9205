package io.moeflow.api.chat.reply;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.node.ObjectNode;
import io.moeflow.api.ChatOptions;
import io.moeflow.api.InvalidRequestException;
import io.moeflow.api.RequestParser;
import io.moeflow.api.chat.ChatRequestReader;
import io.moeflow.engine.TokenConstraint;
import io.moeflow.engine.grammar.GrammarConstraint;
import io.moeflow.engine.grammar.TokenTrie;
import java.nio.charset.StandardCharsets;
import java.util.BitSet;
import org.junit.jupiter.api.Test;

/**
 * The grammars of forced calls, walked byte by byte (a vocabulary of the 256 single-byte tokens and one
 * end-of-generation token): the family's call with arguments valid against the schema is accepted to its end,
 * anything else is refused at the byte where it leaves the grammar, and what the grammar accepts parses as a call.
 */
class ForcedCallTest {
    static final String TOOLS = "\"tools\":[{\"type\":\"function\",\"function\":{\"name\":\"get_weather\",\"parameters\":{\"type\":\"object\","
            + "\"properties\":{\"city\":{\"type\":\"string\"}},\"required\":[\"city\"],\"additionalProperties\":false}}},"
            + "{\"type\":\"function\",\"function\":{\"name\":\"get_time\"}}]";
    static final int EOG = 256;

    static ChatOptions options(String toolChoice) {
        return ChatRequestReader.options((ObjectNode) RequestParser.parseObject("{" + TOOLS + ",\"tool_choice\":" + toolChoice + "}"));
    }

    static TokenConstraint constraint(ReplyFormat format, boolean thinkingOpen, String toolChoice) {
        return constraint(format, thinkingOpen, toolChoice, null);
    }

    static TokenConstraint constraint(ReplyFormat format, boolean thinkingOpen, String toolChoice, String template) {
        byte[][] bytes = new byte[257][];
        for (int b = 0; b < 256; b++) bytes[b] = new byte[] {(byte) b};
        bytes[EOG] = new byte[0];
        BitSet eog = new BitSet();
        eog.set(EOG);
        return GrammarConstraint.of(ForcedCall.grammar(format, new ReplyFormat.ThinkTags("<think>", "</think>"), thinkingOpen,
                options(toolChoice), template), new TokenTrie(bytes, eog));
    }

    /** How many bytes of {@code text} the constraint takes, and whether it is then complete. */
    static String walk(TokenConstraint c, String text) {
        TokenConstraint.Cursor cursor = c.start();
        byte[] b = text.getBytes(StandardCharsets.UTF_8);
        for (int i = 0; i < b.length; i++) {
            if (!cursor.allows(b[i] & 0xff)) return "refused at " + i;
            cursor.accept(b[i] & 0xff);
        }
        return cursor.complete() ? "complete" : "incomplete";
    }

    @Test
    void hermesForcedCallsFollowTheSchema() {
        TokenConstraint required = constraint(ReplyFormat.HERMES, false, "\"required\"");
        String call = "<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Paris\"}}\n</tool_call>";
        assertEquals("complete", walk(required, call));
        assertEquals("complete", walk(required, "<tool_call>\n{\"name\": \"get_time\", \"arguments\": {}}\n</tool_call>"));
        assertEquals("refused at 0", walk(required, "Hello"));
        assertEquals("incomplete", walk(required, "<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Paris\"}}"));
        // the schema: city is required and nothing else may stand there
        assertTrue(walk(required, "<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"town\": \"Paris\"}}\n</tool_call>").startsWith("refused"));
        TokenConstraint named = constraint(ReplyFormat.HERMES, false, "{\"type\":\"function\",\"function\":{\"name\":\"get_time\"}}");
        assertEquals("complete", walk(named, "<tool_call>\n{\"name\": \"get_time\", \"arguments\": {}}\n</tool_call>"));
        assertTrue(walk(named, call).startsWith("refused"), "only the named function");
        // what the grammar takes is a call for the parser
        AssistantReply parsed = ReplyParserTest.parser(ReplyFormat.HERMES, null).parse(call, false);
        assertEquals("get_weather", parsed.toolCalls().get(0).name());
    }

    @Test
    void anOpenedThinkBlockIsClosedFirst() {
        assertEquals("complete", walk(constraint(ReplyFormat.HERMES, true, "\"required\""),
                "</think>\n\n<tool_call>\n{\"name\": \"get_time\", \"arguments\": {}}\n</tool_call>"));
    }

    @Test
    void harmonyForcedCall() {
        TokenConstraint c = constraint(ReplyFormat.HARMONY, false, "{\"type\":\"function\",\"function\":{\"name\":\"get_weather\"}}");
        String call = "<|channel|>commentary to=functions.get_weather <|constrain|>json<|message|>{\"city\":\"Oslo\"}";
        assertEquals("complete", walk(c, call));
        assertEquals("refused at 11", walk(c, "<|channel|>analysis<|message|>x"));
        assertEquals("get_weather", ReplyParserTest.parser(ReplyFormat.HARMONY, null).parse(call, false).toolCalls().get(0).name());
    }

    /** Each family's forced call, in the variant its template writes, is accepted and parses as the call. */
    @Test
    void theOtherFamiliesCalls() {
        String named = "{\"type\":\"function\",\"function\":{\"name\":\"get_weather\"}}";
        Object[][] cases = {
            {ReplyFormat.DEEPSEEK, "'<｜tool▁sep｜>' + tool_name + '\\n' + '```json'", "<｜tool▁calls▁begin｜><｜tool▁call▁begin｜>function"
                    + "<｜tool▁sep｜>get_weather\n```json\n{\"city\": \"Oslo\"}\n```<｜tool▁call▁end｜><｜tool▁calls▁end｜>"},
            {ReplyFormat.DEEPSEEK, null, "<｜tool▁calls▁begin｜><｜tool▁call▁begin｜>get_weather<｜tool▁sep｜>{\"city\": \"Oslo\"}"
                    + "<｜tool▁call▁end｜><｜tool▁calls▁end｜>"},
            {ReplyFormat.KIMI, null, "<|tool_calls_section_begin|><|tool_call_begin|>functions.get_weather:0<|tool_call_argument_begin|>"
                    + "{\"city\": \"Oslo\"}<|tool_call_end|><|tool_calls_section_end|>"},
            {ReplyFormat.MISTRAL, "[TOOL_CALLS]{{ name }}[ARGS]", "[TOOL_CALLS]get_weather[ARGS]{\"city\": \"Oslo\"}"},
            {ReplyFormat.MISTRAL, "[TOOL_CALLS]", "[TOOL_CALLS][{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Oslo\"}}]"},
        };
        for (Object[] c : cases) {
            ReplyFormat f = (ReplyFormat) c[0];
            String call = (String) c[2];
            assertEquals("complete", walk(constraint(f, false, named, (String) c[1]), call), call);
            assertTrue(walk(constraint(f, false, named, (String) c[1]), "Hello").startsWith("refused"), call);
            AssistantReply parsed = ReplyParserTest.parser(f, null).parse(call, false);
            assertEquals("{\"city\":\"Oslo\"}", parsed.toolCalls().get(0).arguments(), call);
        }
        InvalidRequestException e = assertThrows(InvalidRequestException.class,
                () -> constraint(ReplyFormat.CONTENT_ONLY, false, "\"required\""));
        assertEquals("tool_choice", e.param());
    }

    @Test
    void toolChoiceValuesAreChecked() {
        assertEquals(ChatOptions.ToolChoice.REQUIRED, options("\"required\"").toolChoice());
        assertEquals("get_time", options("{\"type\":\"function\",\"function\":{\"name\":\"get_time\"}}").forcedFunction());
        InvalidRequestException unknown = assertThrows(InvalidRequestException.class,
                () -> options("{\"type\":\"function\",\"function\":{\"name\":\"nope\"}}"));
        assertEquals("tool_choice.function.name", unknown.param());
        InvalidRequestException noTools = assertThrows(InvalidRequestException.class,
                () -> ChatRequestReader.options((ObjectNode) RequestParser.parseObject("{\"tool_choice\":\"required\"}")));
        assertEquals("tool_choice", noTools.param());
    }
}
