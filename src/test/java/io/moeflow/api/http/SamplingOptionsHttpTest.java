package io.moeflow.api.http;

import static io.restassured.RestAssured.given;
import static org.junit.jupiter.api.Assertions.*;

import com.fasterxml.jackson.databind.JsonNode;
import io.moeflow.api.GgufModelRuntime;
import io.moeflow.api.RequestParser;
import io.moeflow.api.testing.Ready;
import io.moeflow.api.testing.Sse;
import io.moeflow.model.Logits;
import io.quarkus.test.junit.QuarkusTest;
import io.restassured.http.ContentType;
import io.restassured.response.Response;
import jakarta.inject.Inject;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * The sampling options through HTTP with the bundled stories260K model, checked against an independent computation
 * over the model's logits ({@link Logits#compute}, the path of `moeflow logits` and the golden-file tests, one
 * prefill per step): greedy decoding with the penalties and the logit bias applied here in double, by their published
 * formulas, must pick the tokens the server picked, and the server's log-probabilities must be this log-softmax.
 */
@QuarkusTest
class SamplingOptionsHttpTest {
    private static final String PROMPT = "Once upon a time";

    @Inject
    GgufModelRuntime model;

    @BeforeEach
    void ready() throws InterruptedException {
        Ready.await();
    }

    private static JsonNode post(String path, String body) {
        Response r = given().contentType(ContentType.JSON).body(body).when().post(path);
        assertEquals(200, r.statusCode(), body + " -> " + r.asString());
        try {
            return RequestParser.JSON.readTree(r.asString());
        } catch (Exception e) {
            throw new AssertionError(e);
        }
    }

    private String piece(int token) {
        return new String(model.tokenizer().pieceBytes(token), StandardCharsets.UTF_8);
    }

    /** The completion's tokens as piece strings (from its legacy logprobs object). */
    private static List<String> tokens(JsonNode completion) {
        List<String> out = new ArrayList<>();
        completion.at("/choices/0/logprobs/tokens").forEach(t -> out.add(t.asText()));
        return out;
    }

    /** The penalties and bias of a request, for the reference below. */
    record Options(double presence, double frequency, double repeat, int lastN, Map<Integer, Double> bias) {
        static final Options NONE = new Options(0, 0, 1, 64, Map.of());
    }

    /**
     * Greedy decoding over the model's logits with {@code o} applied in double: bias added; repeat_penalty on the tokens
     * of the last lastN (prompt included), divided when positive, multiplied otherwise; count * frequency + presence
     * subtracted for generated tokens; argmax, ties to the lower id. Stops at end-of-generation tokens.
     */
    private int[] referenceGreedy(int[] prompt, Options o, int steps) {
        List<Integer> seq = new ArrayList<>();
        for (int t : prompt) seq.add(t);
        int vocab = model.model().info().vocabSize();
        List<Integer> out = new ArrayList<>();
        for (int step = 0; step < steps; step++) {
            int[] ids = seq.stream().mapToInt(Integer::intValue).toArray();
            float[] all = Logits.compute(model.model(), ids, false, null);
            double[] row = new double[vocab];
            for (int i = 0; i < vocab; i++) row[i] = all[(ids.length - 1) * vocab + i];
            for (Map.Entry<Integer, Double> b : o.bias().entrySet()) row[b.getKey()] += b.getValue();
            Set<Integer> window = new HashSet<>(seq.subList(Math.max(0, seq.size() - o.lastN()), seq.size()));
            for (int t : window) row[t] = row[t] <= 0 ? row[t] * o.repeat() : row[t] / o.repeat();
            Map<Integer, Integer> counts = new HashMap<>();
            for (int t : out) counts.merge(t, 1, Integer::sum);
            for (Map.Entry<Integer, Integer> c : counts.entrySet()) row[c.getKey()] -= c.getValue() * o.frequency() + o.presence();
            int best = 0;
            for (int i = 1; i < vocab; i++) if (row[i] > row[best]) best = i;
            out.add(best);
            seq.add(best);
            if (model.tokenizer().isEog(best)) break;
        }
        return out.stream().mapToInt(Integer::intValue).toArray();
    }

    private List<String> pieces(int[] ids) {
        List<String> out = new ArrayList<>();
        for (int id : ids) if (!model.tokenizer().isEog(id)) out.add(piece(id));
        return out;
    }

    private int[] prompt() {
        return model.encode(PROMPT, true, true);
    }

    private static String completion(String extra, int maxTokens) {
        return "{\"prompt\":\"" + PROMPT + "\",\"max_tokens\":" + maxTokens + ",\"temperature\":0,\"logprobs\":0" + extra + "}";
    }

    @Test
    void greedyWithoutOptionsIsTheReferenceArgmaxAndRepeatsItself() {
        int[] ref = referenceGreedy(prompt(), Options.NONE, 40);
        assertEquals(pieces(ref), tokens(post("/v1/completions", completion("", 40))));
        assertTrue(maxCount(ref) >= 3, "the plain greedy text repeats tokens: " + Arrays.toString(ref));
    }

    private static int maxCount(int[] ids) {
        Map<Integer, Integer> c = new HashMap<>();
        for (int id : ids) c.merge(id, 1, Integer::sum);
        return c.values().stream().max(Integer::compare).orElse(0);
    }

    @Test
    void frequencyPenaltyChangesTheGreedyRepetitionExactlyAsTheFormulaSays() {
        int[] plain = referenceGreedy(prompt(), Options.NONE, 40);
        Options o = new Options(0, 1.5, 1, 64, Map.of());
        int[] ref = referenceGreedy(prompt(), o, 40);
        assertFalse(Arrays.equals(plain, ref), "the penalty changes the text");
        assertTrue(maxCount(ref) < maxCount(plain), "fewer repeats: " + maxCount(ref) + " vs " + maxCount(plain));
        assertEquals(pieces(ref), tokens(post("/v1/completions", completion(",\"frequency_penalty\":1.5", 40))));
    }

    @Test
    void presenceAndRepeatPenaltiesMatchTheReference() {
        Options o = new Options(1.2, 0, 1, 64, Map.of());
        assertEquals(pieces(referenceGreedy(prompt(), o, 30)),
                tokens(post("/v1/completions", completion(",\"presence_penalty\":1.2", 30))));
        Options r = new Options(0, 0, 1.8, 32, Map.of());
        int[] ref = referenceGreedy(prompt(), r, 30);
        assertFalse(Arrays.equals(referenceGreedy(prompt(), Options.NONE, 30), ref));
        assertEquals(pieces(ref), tokens(post("/v1/completions", completion(",\"repeat_penalty\":1.8,\"repeat_last_n\":32", 30))));
    }

    @Test
    void logitBiasMinus100BansAToken() {
        int[] plain = referenceGreedy(prompt(), Options.NONE, 40);
        int banned = plain[0];
        int[] ref = referenceGreedy(prompt(), new Options(0, 0, 1, 64, Map.of(banned, -100.0, 383, -100.0)), 40);
        String bias = ",\"logit_bias\":{\"" + banned + "\":-100,\"383\":-100}";
        assertEquals(pieces(ref), tokens(post("/v1/completions", completion(bias, 40))));
        for (int t : ref) assertTrue(t != banned && t != 383);
        // sampled at temperature 1: never either token, at any of these seeds
        for (int seed = 0; seed < 8; seed++) {
            JsonNode r = post("/v1/completions", "{\"prompt\":\"" + PROMPT + "\",\"max_tokens\":40,\"seed\":" + seed
                    + ",\"logprobs\":0" + bias + "}");
            List<String> got = tokens(r);
            assertFalse(got.contains(piece(banned)) || got.contains(piece(383)), "seed " + seed + ": " + got);
        }
    }

    @Test
    void logitBiasPlus100ForcesAToken() {
        int forced = 383;
        JsonNode r = post("/v1/completions", completion(",\"logit_bias\":{\"383\":100},\"ignore_eos\":true", 12));
        assertEquals(java.util.Collections.nCopies(12, piece(forced)), tokens(r));
    }

    /**
     * exp(logprob) of each token is its softmax probability under the model's raw logits (computed here in double),
     * whatever the penalty did to the choice; the ids come from the reference greedy decoding with that penalty.
     */
    @Test
    void completionLogprobsAreTheModelsSoftmax() {
        int[] ids = referenceGreedy(prompt(), new Options(0, 1.5, 1, 64, Map.of()), 40);
        JsonNode r = post("/v1/completions", completion(",\"logprobs\":5,\"frequency_penalty\":1.5", 40).replace("\"logprobs\":0,", ""));
        JsonNode lp = r.at("/choices/0/logprobs");
        assertEquals(pieces(ids), tokens(r));
        List<Integer> seq = new ArrayList<>();
        for (int t : prompt()) seq.add(t);
        int vocab = model.model().info().vocabSize();
        StringBuilder text = new StringBuilder();
        boolean penaltyMattered = false;
        for (int i = 0; i < lp.get("tokens").size(); i++) {
            int[] context = seq.stream().mapToInt(Integer::intValue).toArray();
            float[] all = Logits.compute(model.model(), context, false, null);
            int row = (context.length - 1) * vocab;
            double max = Double.NEGATIVE_INFINITY;
            int argmax = 0;
            for (int v = 0; v < vocab; v++) {
                if (all[row + v] > max) argmax = v;
                max = Math.max(max, all[row + v]);
            }
            double z = 0;
            for (int v = 0; v < vocab; v++) z += Math.exp(all[row + v] - max);
            double expected = Math.exp(all[row + ids[i]] - max) / z;
            assertEquals(expected, Math.exp(lp.get("token_logprobs").get(i).asDouble()), 1e-4, "token " + i);
            JsonNode top = lp.get("top_logprobs").get(i);
            assertTrue(top.size() >= 5 && top.size() <= 6, top.toString());
            assertEquals(Math.exp(all[row + argmax] - max) / z, Math.exp(top.get(piece(argmax)).asDouble()), 1e-4,
                    "the most likely token of the raw distribution is listed");
            penaltyMattered |= argmax != ids[i];
            double sum = 0;
            for (var e : top.properties()) sum += Math.exp(e.getValue().asDouble());
            assertTrue(sum <= 1 + 1e-9, "top probabilities sum to at most 1: " + sum);
            assertEquals(text.codePointCount(0, text.length()), lp.get("text_offset").get(i).asInt());
            text.append(lp.get("tokens").get(i).asText());
            seq.add(ids[i]);
        }
        assertTrue(penaltyMattered, "the penalty picked a token other than the raw argmax at least once");
    }

    @Test
    void chatLogprobsHaveOpenAisShapeAndMatchTheStream() throws Exception {
        String body = "{\"messages\":[{\"role\":\"user\",\"content\":\"Tell a story\"}],\"max_tokens\":12,\"seed\":9,"
                + "\"logprobs\":true,\"top_logprobs\":3%s}";
        JsonNode whole = post("/v1/chat/completions", body.formatted(""));
        JsonNode content = whole.at("/choices/0/logprobs/content");
        assertTrue(content.size() > 0, whole.toString());
        StringBuilder text = new StringBuilder();
        for (JsonNode entry : content) {
            byte[] bytes = new byte[entry.get("bytes").size()];
            for (int i = 0; i < bytes.length; i++) bytes[i] = (byte) entry.get("bytes").get(i).asInt();
            assertEquals(new String(bytes, StandardCharsets.UTF_8), entry.get("token").asText());
            assertTrue(entry.get("logprob").asDouble() <= 0);
            JsonNode top = entry.get("top_logprobs");
            assertEquals(3, top.size());
            assertTrue(top.get(0).get("logprob").asDouble() >= top.get(1).get("logprob").asDouble());
            assertTrue(entry.get("logprob").asDouble() <= top.get(0).get("logprob").asDouble() + 1e-12);
            text.append(entry.get("token").asText());
        }
        assertEquals(whole.at("/choices/0/message/content").asText(), text.toString().stripLeading());
        // the stream carries the same entries, spread over its chunks
        String sse = given().contentType(ContentType.JSON).body(body.formatted(",\"stream\":true")).when()
                .post("/v1/chat/completions").then().statusCode(200).extract().asString();
        List<JsonNode> streamed = new ArrayList<>();
        for (String d : Sse.data(sse)) {
            if (d.equals("[DONE]")) continue;
            JsonNode chunk = RequestParser.JSON.readTree(d);
            JsonNode lp = chunk.at("/choices/0/logprobs/content");
            if (lp.isArray()) lp.forEach(streamed::add);
        }
        assertEquals(content.size(), streamed.size());
        for (int i = 0; i < streamed.size(); i++) assertEquals(content.get(i), streamed.get(i), "entry " + i);
    }

    @Test
    void completionLogprobsStreamedAreTheWholeAnswersSpreadOverChunks() throws Exception {
        String body = "{\"prompt\":\"" + PROMPT + "\",\"max_tokens\":14,\"seed\":4,\"logprobs\":2,\"presence_penalty\":0.4%s}";
        JsonNode whole = post("/v1/completions", body.formatted("")).at("/choices/0/logprobs");
        String sse = given().contentType(ContentType.JSON).body(body.formatted(",\"stream\":true")).when()
                .post("/v1/completions").then().statusCode(200).extract().asString();
        Map<String, List<JsonNode>> streamed = new HashMap<>();
        for (String d : Sse.data(sse)) {
            if (d.equals("[DONE]")) continue;
            JsonNode lp = RequestParser.JSON.readTree(d).at("/choices/0/logprobs");
            if (!lp.isObject()) continue;
            for (String key : List.of("tokens", "token_logprobs", "top_logprobs", "text_offset")) {
                lp.get(key).forEach(v -> streamed.computeIfAbsent(key, k -> new ArrayList<>()).add(v));
            }
        }
        for (String key : List.of("tokens", "token_logprobs", "top_logprobs", "text_offset")) {
            List<JsonNode> expected = new ArrayList<>();
            whole.get(key).forEach(expected::add);
            assertEquals(expected, streamed.get(key), key);
        }
    }

    @Test
    void logprobsLeaveOutTheTokensOfAMatchedStopString() throws Exception {
        // Greedy "Once upon a time" goes on ", there was a little girl": the stop string's tokens are generated
        // but none of their text is in the answer, so they get no entry (whole or streamed).
        String body = "{\"prompt\":\"" + PROMPT + "\",\"max_tokens\":40,\"temperature\":0,\"stop\":\"girl\",\"logprobs\":1%s}";
        JsonNode whole = post("/v1/completions", body.formatted(""));
        assertEquals("stop", whole.at("/choices/0/finish_reason").asText(), whole.toString());
        String text = whole.at("/choices/0/text").asText();
        JsonNode lp = whole.at("/choices/0/logprobs");
        int length = text.codePointCount(0, text.length());
        StringBuilder joined = new StringBuilder();
        for (int i = 0; i < lp.get("tokens").size(); i++) {
            assertTrue(lp.get("text_offset").get(i).asLong() < length, "entry " + i + " begins past the text: " + lp);
            joined.append(lp.get("tokens").get(i).asText());
        }
        assertTrue(joined.toString().startsWith(text), joined + " | " + text);
        String sse = given().contentType(ContentType.JSON).body(body.formatted(",\"stream\":true")).when()
                .post("/v1/completions").then().statusCode(200).extract().asString();
        List<JsonNode> streamed = new ArrayList<>();
        for (String d : Sse.data(sse)) {
            if (d.equals("[DONE]")) continue;
            JsonNode chunk = RequestParser.JSON.readTree(d).at("/choices/0/logprobs");
            if (chunk.isObject()) chunk.get("tokens").forEach(streamed::add);
        }
        List<JsonNode> expected = new ArrayList<>();
        lp.get("tokens").forEach(expected::add);
        assertEquals(expected, streamed);
    }

    @Test
    void nChoicesAreSeededPerChoiceReproducibleAndCountedInUsage() throws Exception {
        String body = "{\"prompt\":\"" + PROMPT + "\",\"max_tokens\":12,\"seed\":11,\"n\":3%s}";
        JsonNode a = post("/v1/completions", body.formatted(""));
        JsonNode choices = a.get("choices");
        assertEquals(3, choices.size());
        Set<String> texts = new HashSet<>();
        int completion = 0;
        for (int i = 0; i < 3; i++) {
            assertEquals(i, choices.get(i).get("index").asInt());
            texts.add(choices.get(i).get("text").asText());
            // choice i is what one choice with seed 11 + i generates
            JsonNode single = post("/v1/completions", "{\"prompt\":\"" + PROMPT + "\",\"max_tokens\":12,\"seed\":" + (11 + i) + "}");
            assertEquals(single.at("/choices/0/text").asText(), choices.get(i).get("text").asText(), "choice " + i);
            completion += single.at("/usage/completion_tokens").asInt();
        }
        assertEquals(3, texts.size(), "three distinct texts: " + texts);
        // each choice's log-probabilities are its own tokens
        JsonNode withLogprobs = post("/v1/completions", body.formatted(",\"logprobs\":1"));
        for (int i = 0; i < 3; i++) {
            JsonNode c = withLogprobs.get("choices").get(i);
            assertEquals(choices.get(i).get("text").asText(), c.get("text").asText());
            StringBuilder joined = new StringBuilder();
            c.at("/logprobs/tokens").forEach(t -> joined.append(t.asText()));
            assertEquals(c.get("text").asText(), joined.toString(), "choice " + i);
        }
        assertEquals(completion, a.at("/usage/completion_tokens").asInt());
        assertEquals(prompt().length, a.at("/usage/prompt_tokens").asInt(), "the prompt counts once");
        assertEquals(a.get("choices"), post("/v1/completions", body.formatted("")).get("choices"), "same seed, same choices");

        String sse = given().contentType(ContentType.JSON)
                .body(body.formatted(",\"stream\":true,\"stream_options\":{\"include_usage\":true}")).when()
                .post("/v1/completions").then().statusCode(200).extract().asString();
        List<String> data = Sse.data(sse);
        assertEquals("[DONE]", data.getLast());
        StringBuilder[] streamed = {new StringBuilder(), new StringBuilder(), new StringBuilder()};
        for (String d : data.subList(0, data.size() - 2)) {
            JsonNode chunk = RequestParser.JSON.readTree(d);
            streamed[chunk.at("/choices/0/index").asInt()].append(chunk.at("/choices/0/text").asText());
        }
        for (int i = 0; i < 3; i++) assertEquals(choices.get(i).get("text").asText(), streamed[i].toString());
        assertEquals(completion, RequestParser.JSON.readTree(data.get(data.size() - 2)).at("/usage/completion_tokens").asInt());
    }

    /** Every choice keeps the request's response_format constraint. */
    @Test
    void nChoicesAllKeepTheResponseFormat() throws Exception {
        JsonNode r = post("/v1/chat/completions", "{\"messages\":[{\"role\":\"user\",\"content\":\"Tell a story\"}],"
                + "\"max_tokens\":40,\"seed\":3,\"n\":4,\"response_format\":{\"type\":\"json_schema\",\"json_schema\":"
                + "{\"name\":\"b\",\"schema\":{\"type\":\"boolean\"}}}}");
        assertEquals(4, r.get("choices").size());
        for (JsonNode c : r.get("choices")) {
            String text = c.at("/message/content").asText();
            assertTrue(RequestParser.JSON.readTree(text).isBoolean(), "choice " + c.get("index") + ": " + text);
        }
    }

    @Test
    void chatNChoicesStreamTheirRoleAndFinishPerIndex() throws Exception {
        String body = "{\"messages\":[{\"role\":\"user\",\"content\":\"Tell a story\"}],\"max_tokens\":6,\"seed\":2,\"n\":2%s}";
        JsonNode whole = post("/v1/chat/completions", body.formatted(""));
        assertEquals(2, whole.get("choices").size());
        String sse = given().contentType(ContentType.JSON).body(body.formatted(",\"stream\":true")).when()
                .post("/v1/chat/completions").then().statusCode(200).extract().asString();
        int[] roles = new int[2];
        int[] finishes = new int[2];
        StringBuilder[] text = {new StringBuilder(), new StringBuilder()};
        for (String d : Sse.data(sse)) {
            if (d.equals("[DONE]")) continue;
            JsonNode c = RequestParser.JSON.readTree(d).at("/choices/0");
            int i = c.get("index").asInt();
            if (c.at("/delta/role").isTextual()) roles[i]++;
            if (c.at("/delta/content").isTextual()) text[i].append(c.at("/delta/content").asText());
            if (!c.get("finish_reason").isNull()) finishes[i]++;
        }
        assertArrayEquals(new int[] {1, 1}, roles);
        assertArrayEquals(new int[] {1, 1}, finishes);
        for (int i = 0; i < 2; i++) assertEquals(whole.at("/choices/" + i + "/message/content").asText(), text[i].toString());
    }
}
