package io.moeflow.api;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.moeflow.api.OpenAiFields.Endpoint;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.TreeSet;
import org.junit.jupiter.api.Test;

/**
 * The field table against OpenAI's request schemas (the API reference of chat completions and of completions, as
 * the OpenAI SDKs generated from its OpenAPI spec list them), and against docs/CONFIGURATION.md.
 */
class OpenAiFieldsTableTest {
    /** Every field of OpenAI's create chat completion request body. */
    static final List<String> OPENAI_CHAT = List.of("messages", "model", "audio", "frequency_penalty", "function_call",
            "functions", "logit_bias", "logprobs", "max_completion_tokens", "max_tokens", "metadata", "modalities", "n",
            "parallel_tool_calls", "prediction", "presence_penalty", "prompt_cache_key", "prompt_cache_retention",
            "reasoning_effort", "response_format", "safety_identifier", "seed", "service_tier", "stop", "store", "stream",
            "stream_options", "temperature", "tool_choice", "tools", "top_logprobs", "top_p", "user", "verbosity",
            "web_search_options");
    /** Every field of OpenAI's create completion (legacy) request body. */
    static final List<String> OPENAI_COMPLETIONS = List.of("model", "prompt", "best_of", "echo", "frequency_penalty",
            "logit_bias", "logprobs", "max_tokens", "n", "presence_penalty", "seed", "stop", "stream", "stream_options",
            "suffix", "temperature", "top_p", "user");
    /** Fields of vLLM and llama-server that moeflow knows. */
    static final Set<String> EXTENSIONS = Set.of("top_k", "min_p", "ignore_eos", "chat_template_kwargs", "add_generation_prompt",
            "reasoning_format", "response_format", "repeat_penalty", "repeat_last_n");

    @Test
    void everyOpenAiFieldHasADecisionAndEveryDecisionAField() {
        for (Endpoint endpoint : Endpoint.values()) {
            List<String> reference = endpoint == Endpoint.CHAT ? OPENAI_CHAT : OPENAI_COMPLETIONS;
            for (String name : reference) {
                assertNotNull(OpenAiFields.field(name, endpoint), endpoint + ": no decision for " + name);
            }
            for (OpenAiFields.Field f : OpenAiFields.FIELDS) {
                if (!f.endpoints().contains(endpoint)) continue;
                assertTrue(reference.contains(f.name()) || EXTENSIONS.contains(f.name()),
                        endpoint + ": " + f.name() + " is in neither OpenAI's schema nor the known extensions");
            }
        }
        Set<String> seen = new TreeSet<>();
        for (OpenAiFields.Field f : OpenAiFields.FIELDS) {
            for (Endpoint e : f.endpoints()) assertTrue(seen.add(e + " " + f.name()), "two rules for " + f.name() + " on " + e);
        }
    }

    /** The rows docs/CONFIGURATION.md must have, in the table's order. */
    static List<String> docsRows() {
        List<String> rows = new ArrayList<>();
        for (OpenAiFields.Field f : OpenAiFields.FIELDS) {
            String endpoints = f.endpoints().size() == 2 ? "both" : f.endpoints().contains(Endpoint.CHAT) ? "chat" : "completions";
            rows.add("| `" + f.name() + "` | " + endpoints + " | " + f.decision().name().toLowerCase() + " | " + f.accepts() + " |");
        }
        return rows;
    }

    @Test
    void theDocsListEveryDecision() throws Exception {
        String docs = Files.readString(Path.of("docs/CONFIGURATION.md"));
        List<String> missing = docsRows().stream().filter(row -> !docs.contains(row)).toList();
        assertEquals(List.of(), missing, "rows missing from the request fields table of docs/CONFIGURATION.md");
    }
}
