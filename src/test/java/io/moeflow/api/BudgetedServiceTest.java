package io.moeflow.api;

import static io.restassured.RestAssured.given;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.moeflow.api.testing.BudgetedMoeProfile;
import io.moeflow.api.testing.Ready;
import io.moeflow.engine.Detokenizer;
import io.moeflow.engine.SamplingParams;
import io.moeflow.experts.EvictionPolicy;
import io.moeflow.experts.ExpertCacheBudget;
import io.moeflow.experts.ExpertCacheStats;
import io.moeflow.experts.ExpertStore;
import io.moeflow.kernels.WorkerPool;
import io.moeflow.model.DecoderModel;
import io.moeflow.model.KvCache;
import io.moeflow.model.Models;
import io.moeflow.scheduler.BatchScheduler;
import io.moeflow.scheduler.GenerationRequest;
import io.moeflow.scheduler.SchedulerConfig;
import io.moeflow.scheduler.TokenEvent;
import io.moeflow.testing.TinySynthMoe;
import io.moeflow.tokenizer.Tokenizer;
import io.moeflow.tokenizer.Vocabulary;
import io.quarkus.test.junit.QuarkusTest;
import io.quarkus.test.junit.TestProfile;
import io.restassured.http.ContentType;
import io.restassured.path.json.JsonPath;
import jakarta.inject.Inject;
import java.util.List;
import org.junit.jupiter.api.Test;

/**
 * The service with {@code moeflow.experts.cache=25%} on a tiny synthetic MoE: the model it loads serves its experts
 * from a budgeted store of that size, and a greedy completion is the one the same model gives with resident
 * experts (that the logits agree bit for bit is tested in io.moeflow.experts; here it is the wiring).
 */
@QuarkusTest
@TestProfile(BudgetedMoeProfile.class)
class BudgetedServiceTest {
    static final String PROMPT = "Once upon a time";
    static final int MAX_TOKENS = 12;

    @Inject
    GgufModelRuntime runtime;

    @Test
    void servesFromABudgetedStoreAndAnswersAsTheResidentModel() throws Exception {
        Ready.await();
        ExpertStore store = runtime.model().expertStore();
        assertNotNull(store, "moeflow.experts.cache=25% must give the model an expert store");
        assertEquals(ExpertCacheBudget.parse("25%", store.totalExpertBytes()), store.budgetBytes());
        assertEquals(Math.min(store.budgetBytes() / store.slotBytes(), 16), store.slots());
        assertEquals(EvictionPolicy.LRU, store.stats().policy());
        long missesBefore = store.stats().total().misses();

        JsonPath served = given().contentType(ContentType.JSON)
                .body("{\"prompt\":\"" + PROMPT + "\",\"max_tokens\":" + MAX_TOKENS + ",\"temperature\":0}")
                .when().post("/v1/completions").then().statusCode(200).extract().jsonPath();

        assertTrue(served.getInt("usage.completion_tokens") > 0, "the completion generated nothing");
        ExpertCacheStats after = store.stats();
        assertTrue(after.total().misses() > missesBefore, "the request read experts through the store: " + after.summary());
        assertEquals(resident(runtime.encode(PROMPT, true, true)), List.of(served.getString("choices[0].text"),
                served.getInt("usage.completion_tokens")));
    }

    /** Text and token count of the same greedy request on the same file with resident experts. */
    private static List<Object> resident(int[] prompt) {
        try (WorkerPool pool = new WorkerPool(1); DecoderModel model = Models.load(TinySynthMoe.path(), pool)) {
            Tokenizer tokenizer = Tokenizer.of(Vocabulary.fromGguf(model.file()));
            long kv = model.newKvCache(1).bytesPerToken() * KvCache.BLOCK * (KvCache.blocksFor(prompt.length + MAX_TOKENS) + 1);
            try (BatchScheduler scheduler = new BatchScheduler(model, Detokenizer.of(tokenizer),
                    new SchedulerConfig(kv, SchedulerConfig.DEFAULT_MAX_BATCH_TOKENS, 1, 1))) {
                StringBuilder text = new StringBuilder();
                TokenEvent last = scheduler.submit(new GenerationRequest("resident", prompt, SamplingParams.GREEDY, MAX_TOKENS, null, null))
                        .events().onItem().invoke(e -> text.append(e.text() == null ? "" : e.text()))
                        .collect().last().await().indefinitely();
                return List.of(text.toString(), last.usage().completionTokens());
            }
        }
    }
}
