package io.moeflow.api.http;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.langchain4j.agent.tool.ToolExecutionRequest;
import dev.langchain4j.agent.tool.ToolSpecification;
import dev.langchain4j.data.message.AiMessage;
import dev.langchain4j.data.message.ToolExecutionResultMessage;
import dev.langchain4j.data.message.UserMessage;
import dev.langchain4j.model.chat.request.ChatRequest;
import dev.langchain4j.model.chat.request.json.JsonObjectSchema;
import dev.langchain4j.model.chat.response.ChatResponse;
import dev.langchain4j.model.chat.response.StreamingChatResponseHandler;
import dev.langchain4j.model.openai.OpenAiChatModel;
import dev.langchain4j.model.openai.OpenAiStreamingChatModel;
import dev.langchain4j.model.output.FinishReason;
import io.moeflow.api.testing.ScriptedModelProfile;
import io.moeflow.api.testing.ScriptedModelRuntime;
import io.quarkus.test.common.http.TestHTTPResource;
import io.quarkus.test.junit.QuarkusTest;
import io.quarkus.test.junit.TestProfile;
import jakarta.inject.Inject;
import java.net.URL;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

/**
 * langchain4j's OpenAI client (dev.langchain4j:langchain4j-open-ai) against the Quarkus test server with a
 * {@link io.moeflow.api.testing.ScriptedModel} that writes what Qwen3 writes: a reasoning block and a
 * {@code <tool_call>}. The client must get a typed ToolExecutionRequest, the thinking text (returnThinking reads
 * reasoning_content) and finish reason TOOL_EXECUTION, whole and streamed; and the call with its result must go
 * back in the next request.
 */
@QuarkusTest
@TestProfile(ScriptedModelProfile.class)
class LangChain4jClientTest {
    @Inject
    ScriptedModelRuntime model;

    @TestHTTPResource("/v1")
    URL base;

    static final ToolSpecification WEATHER = ToolSpecification.builder().name("get_weather").description("Weather in a city")
            .parameters(JsonObjectSchema.builder().addStringProperty("city").required("city").build()).build();

    void script() throws Exception {
        model.template(ToolCallsHttpTest.template("Qwen-Qwen3-0.6B.jinja"));
        model.generate("<|im_end|>", "<think>\nThe user wants the weather in Paris.\n</think>\n\n<tool_call>\n{\"name\": \"get_weather\","
                + " \"arguments\": {\"city\": \"Paris\"}}\n</tool_call>");
    }

    static ChatRequest ask() {
        return ChatRequest.builder().messages(UserMessage.from("Weather in Paris?")).toolSpecifications(WEATHER).build();
    }

    static void assertCall(ChatResponse response) {
        AiMessage ai = response.aiMessage();
        assertEquals(FinishReason.TOOL_EXECUTION, response.finishReason());
        assertTrue(ai.hasToolExecutionRequests(), ai.toString());
        ToolExecutionRequest call = ai.toolExecutionRequests().get(0);
        assertEquals("get_weather", call.name());
        assertEquals("{\"city\":\"Paris\"}", call.arguments());
        assertFalse(call.id().isEmpty());
        assertEquals("The user wants the weather in Paris.", ai.thinking());
        assertNull(ai.text(), "no content besides the call");
    }

    @Test
    void chatModelGetsATypedToolCallAndTheThinking() throws Exception {
        script();
        OpenAiChatModel chat = OpenAiChatModel.builder().baseUrl(base.toString()).apiKey("unused").modelName("scripted")
                .returnThinking(true).build();
        ChatResponse response = chat.chat(ask());
        assertCall(response);

        // the call and its result go back: the template renders them, and the model answers
        model.generate("<|im_end|>", "It is 22 C in Paris.");
        ToolExecutionRequest call = response.aiMessage().toolExecutionRequests().get(0);
        ChatResponse answer = chat.chat(ChatRequest.builder().messages(List.of(UserMessage.from("Weather in Paris?"),
                response.aiMessage(), ToolExecutionResultMessage.from(call, "22 C"))).toolSpecifications(WEATHER).build());
        assertEquals("It is 22 C in Paris.", answer.aiMessage().text());
        assertEquals(FinishReason.STOP, answer.finishReason());
    }

    @Test
    void streamingChatModelGetsTheSameCall() throws Exception {
        script();
        OpenAiStreamingChatModel chat = OpenAiStreamingChatModel.builder().baseUrl(base.toString()).apiKey("unused")
                .modelName("scripted").returnThinking(true).build();
        CompletableFuture<ChatResponse> done = new CompletableFuture<>();
        StringBuilder partialThinking = new StringBuilder();
        chat.chat(ask(), new StreamingChatResponseHandler() {
            @Override
            public void onPartialResponse(String partial) {
                done.completeExceptionally(new AssertionError("content streamed for an answer of calls only: " + partial));
            }

            @Override
            public void onPartialThinking(dev.langchain4j.model.chat.response.PartialThinking thinking) {
                partialThinking.append(thinking.text());
            }

            @Override
            public void onCompleteResponse(ChatResponse response) {
                done.complete(response);
            }

            @Override
            public void onError(Throwable error) {
                done.completeExceptionally(error);
            }
        });
        assertCall(done.get(60, TimeUnit.SECONDS));
        assertEquals("The user wants the weather in Paris.", partialThinking.toString());
    }
}
