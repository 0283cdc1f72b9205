package io.moeflow.scheduler;

import static io.moeflow.engine.grammar.Grammar.alt;
import static io.moeflow.engine.grammar.Grammar.literal;
import static io.moeflow.engine.grammar.Grammar.range;
import static io.moeflow.engine.grammar.Grammar.repeat;
import static io.moeflow.engine.grammar.Grammar.seq;
import static io.moeflow.scheduler.SchedulerTesting.Outcome;
import static io.moeflow.scheduler.SchedulerTesting.alone;
import static io.moeflow.scheduler.SchedulerTesting.prompt;
import static io.moeflow.scheduler.SchedulerTesting.together;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.moeflow.engine.SamplingParams;
import io.moeflow.engine.TokenConstraint;
import io.moeflow.engine.grammar.Grammar;
import io.moeflow.engine.grammar.GrammarConstraint;
import io.moeflow.engine.grammar.TokenTrie;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.BitSet;
import java.util.List;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;

/**
 * Sequences with different constraints (and one without) decoded in the same steps: each output matches its own
 * grammar (checked with an equivalent java.util.regex, an independent matcher), batched outputs equal each request
 * alone, the unconstrained request is untouched, and a dead end ends its request alone with grammar_dead_end.
 */
class ConstrainedSchedulerTest {
    private static final int VOCAB = 64, CONTEXT = 256;
    private final HistoryModel model = new HistoryModel(VOCAB, CONTEXT);

    private static TokenTrie trie() {
        byte[][] bytes = new byte[VOCAB][];
        for (int t = 0; t < VOCAB; t++) bytes[t] = SchedulerTesting.tokenText(t).getBytes(StandardCharsets.UTF_8);
        BitSet eog = new BitSet();
        eog.set(63);
        return new TokenTrie(bytes, eog);
    }

    record Case(Grammar.Expr grammar, String regex) {}

    @Test
    void differentConstraintsInOneBatchEachHoldAndDeadEndsFailAlone() {
        TokenTrie trie = trie();
        Grammar.Expr digit = range('0', '9');
        List<Case> cases = List.of(
                new Case(seq(literal("ab"), repeat(digit, 0, 5), literal("Z")), "ab[0-9]{0,5}Z"),
                new Case(alt(literal("hello"), literal("HELLO"), literal("h\u00e9")), "hello|HELLO|h\u00e9"),
                new Case(seq(repeat(alt(literal("x"), literal("y")), 1, 8), repeat(range('A', 'Z'), 2, 2)), "[xy]{1,8}[A-Z]{2}"),
                new Case(Grammar.plus(range('a', 'c')), "[a-c]+"));
        List<GenerationRequest> requests = new ArrayList<>();
        for (int i = 0; i < cases.size(); i++) {
            TokenConstraint c = GrammarConstraint.of(cases.get(i).grammar(), trie);
            requests.add(new GenerationRequest("c" + i, prompt(5 + i, i, VOCAB), new SamplingParams(1f, 0, 1f, 0f, 40 + i), 30,
                    null, null).withConstraint(c));
        }
        requests.add(new GenerationRequest("free", prompt(7, 9, VOCAB), new SamplingParams(1f, 0, 1f, 0f, 77), 20, null, null, true));
        requests.add(new GenerationRequest("dead", prompt(4, 8, VOCAB), SamplingParams.GREEDY, 20, null, null)
                .withConstraint(GrammarConstraint.of(seq(literal("a"), literal("!")), trie))); // no token has "!"
        SchedulerConfig cfg = new SchedulerConfig(model.bytesFor(64), 64, 8, 16);
        List<Outcome> reference = alone(model, cfg, requests);
        int stepsAlone = model.steps().size();
        List<Outcome> batched;
        try (BatchScheduler s = new BatchScheduler(model, SchedulerTesting.TEXT, cfg)) {
            batched = together(s, requests);
        }
        assertTrue(model.steps().subList(stepsAlone, model.steps().size()).stream().anyMatch(st -> st.distinctSeqs() >= 5),
                "the constrained sequences really ran together");
        for (int i = 0; i < requests.size(); i++) batched.get(i).assertSameAs(reference.get(i), requests.get(i).id());
        for (int i = 0; i < cases.size(); i++) {
            Outcome o = batched.get(i);
            assertEquals(FinishReason.STOP, o.finish(), "c" + i + ": " + o.text());
            assertTrue(Pattern.compile(cases.get(i).regex()).matcher(o.text()).matches(), "c" + i + ": " + o.text());
        }
        Outcome dead = batched.get(cases.size() + 1);
        assertEquals(FinishReason.ERROR, dead.finish());
        assertEquals("a", dead.text(), "the token before the dead end is kept, nothing after it");
        assertEquals("grammar_dead_end", dead.events().getLast().errorCode());
        assertEquals(FinishReason.LENGTH, batched.get(cases.size()).finish(), "the free request runs to its length");
    }
}
