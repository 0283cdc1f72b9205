package io.moeflow.api;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.networknt.schema.JsonSchema;
import com.networknt.schema.JsonSchemaFactory;
import com.networknt.schema.SpecVersion;
import com.networknt.schema.ValidationMessage;
import io.moeflow.engine.grammar.CompiledGrammar;
import io.moeflow.engine.grammar.Grammar;
import java.nio.ByteBuffer;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * The grammar compiled from a JSON schema, checked against independent oracles: Jackson (is it JSON, strict UTF-8)
 * and networknt's json-schema-validator (is it valid against the schema, draft 2020-12). Sound: every sentence the
 * grammar generates (random walks over it) and every byte string it accepts (mutations of those) is valid JSON
 * valid against the schema. Not empty: documents written by hand, formatted as llama.cpp allows, are accepted.
 */
class JsonSchemaGrammarTest {
    private static final ObjectMapper STRICT = new ObjectMapper().enable(DeserializationFeature.FAIL_ON_TRAILING_TOKENS);
    private static final JsonSchemaFactory SCHEMAS = JsonSchemaFactory.getInstance(SpecVersion.VersionFlag.V202012);

    static final String PERSON = """
            {"type": "object", "additionalProperties": false,
             "properties": {
               "name": {"type": "string", "minLength": 1, "maxLength": 8},
               "age": {"type": "integer"},
               "height": {"type": "number"},
               "tags": {"type": "array", "items": {"enum": ["red", "green", 7, null, {"k": [1]}]}, "minItems": 1, "maxItems": 3},
               "alive": {"type": "boolean"},
               "pet": {"anyOf": [{"type": "null"}, {"$ref": "#/$defs/pet"}]},
               "nick": {"type": ["string", "null"], "maxLength": 3},
               "kind": {"const": "person"},
               "id": {"oneOf": [{"type": "integer"}, {"type": "string", "maxLength": 4}]}
             },
             "required": ["name", "age", "tags", "kind"],
             "$defs": {"pet": {"type": "object", "properties": {"species": {"enum": ["cat", "dog"]},
                                                                "friend": {"$ref": "#/$defs/pet"}},
                               "required": ["species"], "additionalProperties": false}}}""";

    static final String[] SCHEMAS_UNDER_TEST = {
            PERSON,
            "{}",
            "{\"type\": \"object\"}",
            "{\"type\": \"array\", \"items\": {\"type\": \"integer\"}, \"maxItems\": 4}",
            "{\"type\": \"object\", \"additionalProperties\": {\"type\": \"boolean\"}}",
            "{\"type\": \"object\", \"properties\": {\"a\": {\"type\": \"string\"}, \"b\": {\"type\": \"number\"}, \"c\": {}}}",
            "{\"type\": \"string\", \"minLength\": 2, \"maxLength\": 2}",
            "{\"type\": \"array\", \"prefixItems\": [{\"type\": \"integer\"}, {\"enum\": [\"x\", \"y\"]}], \"items\": {\"type\": \"boolean\"},"
                    + " \"minItems\": 3, \"maxItems\": 5}",
            "{\"type\": \"array\", \"prefixItems\": [{\"type\": \"null\"}, {\"type\": \"integer\"}], \"items\": false}",
            "{\"type\": \"array\", \"prefixItems\": [{\"type\": \"null\"}, {\"type\": \"string\"}, {}], \"maxItems\": 2}",
            // a pydantic tagged union: oneOf over $refs told apart by a required const
            "{\"oneOf\": [{\"$ref\": \"#/$defs/cat\"}, {\"$ref\": \"#/$defs/dog\"}], \"discriminator\": {\"propertyName\": \"kind\"},"
                    + " \"$defs\": {\"cat\": {\"type\": \"object\", \"properties\": {\"kind\": {\"const\": \"cat\"}, \"lives\": {\"type\": \"integer\"}},"
                    + " \"required\": [\"kind\"], \"additionalProperties\": false},"
                    + " \"dog\": {\"type\": \"object\", \"properties\": {\"kind\": {\"enum\": [\"dog\", \"wolf\"]}, \"lives\": {\"type\": \"integer\"}},"
                    + " \"required\": [\"kind\", \"lives\"], \"additionalProperties\": false}}}",
            "{\"type\": \"object\", \"properties\": {\"n\": {\"type\": \"integer\", \"minimum\": -5, \"exclusiveMaximum\": 120},"
                    + " \"m\": {\"type\": [\"integer\", \"null\"], \"exclusiveMinimum\": 0.5, \"maximum\": 1e30}},"
                    + " \"required\": [\"n\", \"m\"], \"additionalProperties\": false}",
            "{\"$ref\": \"#/$defs/tree\", \"$defs\": {\"tree\": {\"type\": \"object\", \"properties\": {\"kids\": {\"type\": \"array\","
                    + " \"items\": {\"$ref\": \"#/$defs/tree\"}, \"maxItems\": 2}}, \"required\": [\"kids\"], \"additionalProperties\": false}}}",
    };

    static CompiledGrammar grammar(String schema) throws Exception {
        return Grammar.compile(JsonSchemaGrammar.compile(STRICT.readTree(schema), "schema"));
    }

    /** Null when {@code bytes} are UTF-8 JSON valid against the schema, else why not. */
    static String invalidity(byte[] bytes, JsonSchema schema) {
        String text;
        try {
            text = StandardCharsets.UTF_8.newDecoder().onMalformedInput(CodingErrorAction.REPORT)
                    .onUnmappableCharacter(CodingErrorAction.REPORT).decode(ByteBuffer.wrap(bytes)).toString();
        } catch (Exception e) {
            return "not UTF-8: " + e;
        }
        JsonNode node;
        try {
            node = STRICT.readTree(text);
        } catch (Exception e) {
            return "not JSON: " + e.getMessage();
        }
        if (node == null) return "empty";
        Set<ValidationMessage> errors = schema.validate(node);
        return errors.isEmpty() ? null : "not valid against the schema: " + errors;
    }

    /** A random sentence of the grammar, leaning towards closing once it is long (null if it grew too long). */
    static byte[] randomSentence(CompiledGrammar g, SplittableRandom r) {
        CompiledGrammar.State s = g.start();
        java.io.ByteArrayOutputStream out = new java.io.ByteArrayOutputStream();
        List<Integer> options = new ArrayList<>();
        while (true) {
            if (s.finished() || (s.complete() && r.nextInt(4) == 0)) return out.toByteArray();
            options.clear();
            for (int b = 0; b < 256; b++) if (g.step(s, b) != null) options.add(b);
            if (options.isEmpty()) fail("a live state with no byte to go on after " + out);
            int pick = options.get(r.nextInt(options.size()));
            if (out.size() > 80) {
                List<Integer> closing = options.stream().filter(b -> "\"]}".indexOf(b) >= 0).toList();
                List<Integer> calm = options.stream().filter(b -> "{[ \n\t".indexOf(b) < 0).toList();
                if (!closing.isEmpty() && r.nextInt(3) > 0) pick = closing.get(r.nextInt(closing.size()));
                else if (!calm.isEmpty()) pick = calm.get(r.nextInt(calm.size()));
            }
            if (out.size() > 20_000) return null;
            out.write(pick);
            s = g.step(s, pick);
        }
    }

    @Test
    void everyGeneratedSentenceAndEveryAcceptedMutationIsValidAgainstTheSchema() throws Exception {
        for (String text : SCHEMAS_UNDER_TEST) {
            CompiledGrammar g = grammar(text);
            JsonSchema schema = SCHEMAS.getSchema(STRICT.readTree(text));
            SplittableRandom r = new SplittableRandom(text.hashCode());
            int generated = 0, acceptedMutations = 0;
            for (int i = 0; i < 300; i++) {
                byte[] sentence = randomSentence(g, r);
                if (sentence == null) continue;
                generated++;
                assertTrue(g.matches(sentence));
                String why = invalidity(sentence, schema);
                if (why != null) fail(text + "\ngenerated " + new String(sentence, StandardCharsets.UTF_8) + "\n" + why);
                for (int m = 0; m < 20; m++) {
                    byte[] mutated = mutate(sentence, r);
                    if (!g.matches(mutated)) continue;
                    acceptedMutations++;
                    String whyMutated = invalidity(mutated, schema);
                    if (whyMutated != null) {
                        fail(text + "\naccepted " + new String(mutated, StandardCharsets.UTF_8) + "\n" + whyMutated);
                    }
                }
            }
            assertTrue(generated >= 250, "most walks end: " + generated);
            assertTrue(acceptedMutations > 0, "some mutations stay inside the grammar, so the check has teeth");
        }
    }

    private static byte[] mutate(byte[] s, SplittableRandom r) {
        if (s.length == 0) return new byte[] {(byte) r.nextInt(256)};
        byte[] alphabet = "{}[]\",:0123456789-.eE+ \ntruefalsnabc\\".getBytes(StandardCharsets.US_ASCII);
        int at = r.nextInt(s.length);
        byte b = r.nextInt(8) == 0 ? (byte) r.nextInt(256) : alphabet[r.nextInt(alphabet.length)];
        java.io.ByteArrayOutputStream out = new java.io.ByteArrayOutputStream();
        switch (r.nextInt(3)) {
            case 0 -> { // replace
                out.write(s, 0, at);
                out.write(b);
                out.write(s, at + 1, s.length - at - 1);
            }
            case 1 -> { // insert
                out.write(s, 0, at);
                out.write(b);
                out.write(s, at, s.length - at);
            }
            default -> { // delete
                out.write(s, 0, at);
                out.write(s, at + 1, s.length - at - 1);
            }
        }
        return out.toByteArray();
    }

    @ParameterizedTest
    @ValueSource(strings = {
            "{\"name\":\"Ann\",\"age\":3,\"tags\":[\"red\"],\"kind\":\"person\"}",
            "{\"name\": \"Zoë 😀\", \"age\": -12, \"height\": 1.5e3, \"tags\": [7, null, {\"k\":[1]}], \"alive\": true,"
                    + " \"pet\": {\"species\": \"cat\", \"friend\": {\"species\": \"dog\"}}, \"nick\": null, \"kind\": \"person\", \"id\": \"x1\"}",
            "{\n  \"name\": \"a\\\"\\u00e9\\n\",\n  \"age\": 0,\n  \"tags\": [\n    \"green\"\n  ],\n  \"kind\": \"person\",\n  \"id\": 5\n}",
            "{\"name\":\"x\",\"age\":1,\"tags\":[\"red\"],\"pet\":null,\"kind\":\"person\"}"})
    void handWrittenValidDocumentsAreAccepted(String doc) throws Exception {
        assertEquals(null, invalidity(doc.getBytes(StandardCharsets.UTF_8), SCHEMAS.getSchema(STRICT.readTree(PERSON))), "the oracle agrees");
        assertTrue(grammar(PERSON).matches(doc.getBytes(StandardCharsets.UTF_8)), doc);
    }

    @ParameterizedTest
    @ValueSource(strings = {
            "{\"name\":\"Ann\",\"age\":3,\"tags\":[\"red\"]}", // kind missing
            "{\"name\":\"\",\"age\":3,\"tags\":[\"red\"],\"kind\":\"person\"}", // minLength
            "{\"name\":\"abcdefghi\",\"age\":3,\"tags\":[\"red\"],\"kind\":\"person\"}", // maxLength
            "{\"name\":\"A\",\"age\":3.5,\"tags\":[\"red\"],\"kind\":\"person\"}", // integer
            "{\"name\":\"A\",\"age\":3,\"tags\":[],\"kind\":\"person\"}", // minItems
            "{\"name\":\"A\",\"age\":3,\"tags\":[\"red\",\"red\",\"red\",\"red\"],\"kind\":\"person\"}", // maxItems
            "{\"name\":\"A\",\"age\":3,\"tags\":[\"blue\"],\"kind\":\"person\"}", // enum
            "{\"name\":\"A\",\"age\":3,\"tags\":[\"red\"],\"kind\":\"person\",\"extra\":1}", // additionalProperties
            "{\"name\":\"A\",\"age\":03,\"tags\":[\"red\"],\"kind\":\"person\"}", // leading zero
            "{\"name\":\"A\",\"age\":3,\"tags\":[\"red\"],\"kind\":\"person\",}", // trailing comma
            "{\"name\":\"A\u0001\",\"age\":3,\"tags\":[\"red\"],\"kind\":\"person\"}", // control character
            "{\"name\":\"A\",\"age\":3,\"tags\":[\"red\"],\"kind\":\"person\",\"pet\":{\"species\":\"cow\"}}",
            "{\"name\":\"A\",\"age\":3,\"tags\":[\"red\"],\"kind\":\"person\",\"id\":true}",
            "[]", "null", ""})
    void invalidDocumentsAreRejected(String doc) throws Exception {
        assertTrue(invalidity(doc.getBytes(StandardCharsets.UTF_8), SCHEMAS.getSchema(STRICT.readTree(PERSON))) != null, "the oracle agrees");
        assertFalse(grammar(PERSON).matches(doc.getBytes(StandardCharsets.UTF_8)), doc);
    }

    @Test
    void whitespaceIsBoundedAsInLlamaCpp() throws Exception {
        CompiledGrammar g = grammar("{\"type\": \"array\", \"items\": {\"type\": \"integer\"}}");
        assertTrue(g.matches(("[\n\n" + " ".repeat(20) + "1]").getBytes(StandardCharsets.UTF_8)));
        assertTrue(g.matches("[ 1, 2 ]".getBytes(StandardCharsets.UTF_8)));
        assertFalse(g.matches(("[\n\n" + " ".repeat(21) + "1]").getBytes(StandardCharsets.UTF_8)), "at most 20 indent characters");
        assertFalse(g.matches("[\n\n\n1]".getBytes(StandardCharsets.UTF_8)), "at most 2 newlines");
        assertFalse(g.matches("[  1]".getBytes(StandardCharsets.UTF_8)), "one space, or newlines and indentation");
        assertFalse(g.matches(" [1]".getBytes(StandardCharsets.UTF_8)), "nothing before the value");
    }

    @Test
    void jsonObjectIsAnyObjectAndNothingElse() {
        CompiledGrammar g = Grammar.compile(JsonSchemaGrammar.anyObject());
        assertTrue(g.matches("{}".getBytes(StandardCharsets.UTF_8)));
        assertTrue(g.matches("{\"a\": [1, {\"b\": null}, \"x\", -0.5e-3, true], \"c\": {}}".getBytes(StandardCharsets.UTF_8)));
        assertFalse(g.matches("[]".getBytes(StandardCharsets.UTF_8)));
        assertFalse(g.matches("\"x\"".getBytes(StandardCharsets.UTF_8)));
        assertFalse(g.matches("{\"a\"}".getBytes(StandardCharsets.UTF_8)));
    }

    @ParameterizedTest
    @CsvSource(delimiter = '|', quoteCharacter = '`', value = {
            "{\"type\": \"string\", \"pattern\": \"^a$\"}|'pattern'",
            "{\"type\": \"string\", \"format\": \"date\"}|'format'",
            "{\"type\": \"number\", \"minimum\": 0}|enforced for integers only",
            "{\"minimum\": 0}|say the type",
            "{\"type\": \"integer\", \"minimum\": 5, \"exclusiveMaximum\": 5}|nothing matches",
            "{\"type\": \"number\", \"multipleOf\": 2}|'multipleOf'",
            "{\"not\": {}}|'not'",
            "{\"type\": \"object\", \"patternProperties\": {}}|'patternProperties'",
            "{\"type\": \"object\", \"minProperties\": 1}|'minProperties'",
            "{\"type\": \"array\", \"uniqueItems\": true}|'uniqueItems'",
            "{\"type\": \"array\", \"prefixItems\": [{}], \"items\": false, \"minItems\": 2}|nothing matches",
            "{\"type\": \"array\", \"items\": [{}]}|use prefixItems",
            "{\"if\": {}, \"then\": {}}|'if'",
            "{\"type\": \"object\", \"properties\": {\"a\": {\"type\": \"string\", \"pattern\": \"x\"}}}|at /properties/a",
            "{\"oneOf\": [{\"type\": \"string\"}, {\"type\": \"string\", \"maxLength\": 2}]}|use anyOf",
            "{\"allOf\": [{}, {}]}|allOf of more than one",
            "{\"oneOf\": [{\"type\": \"object\", \"properties\": {\"k\": {\"const\": 1}}, \"required\": [\"k\"]},"
                    + " {\"type\": \"object\", \"properties\": {\"k\": {\"enum\": [2, 1]}}, \"required\": [\"k\"]}]}|branches 0 and 1 may overlap",
            "{\"oneOf\": [{\"type\": \"object\", \"properties\": {\"k\": {\"const\": 1}}, \"required\": [\"k\"]},"
                    + " {\"type\": \"object\", \"properties\": {\"k\": {\"const\": 2}}}]}|may overlap",
            "{\"$ref\": \"https://example.com/s.json\"}|$ref must point into this schema",
            "{\"$ref\": \"#/$defs/missing\"}|points to nothing",
            "{\"type\": \"object\", \"properties\": {\"a\": {}}, \"additionalProperties\": true}|additionalProperties other than false",
            "{\"type\": \"string\", \"maxLength\": 100000}|maxLength above",
            "{\"type\": \"integer\", \"maxLength\": 3}|'maxLength' does not apply",
            "false|matches nothing",
            "{\"$ref\": \"#\"}|refers back to itself",
            "{\"$defs\": {\"a\": {\"anyOf\": [{\"type\": \"null\"}, {\"$ref\": \"#/$defs/b\"}]}, \"b\": {\"$ref\": \"#/$defs/a\"}},"
                    + " \"type\": \"object\", \"properties\": {\"x\": {\"$ref\": \"#/$defs/a\"}}}|refers back to itself",
            "{\"type\": \"strin\"}|unknown type"})
    void whatCannotBeEnforcedIsRefusedByName(String schema, String expected) throws Exception {
        InvalidRequestException e = assertThrows(InvalidRequestException.class,
                () -> JsonSchemaGrammar.compile(STRICT.readTree(schema), "response_format.json_schema.schema"));
        assertTrue(e.getMessage().contains(expected), e.getMessage());
        assertTrue(e.getMessage().startsWith("response_format.json_schema.schema"), e.getMessage());
        assertEquals("response_format.json_schema.schema", e.param());
    }

    @Test
    void integerRangesMatchExactlyTheirIntegers() {
        SplittableRandom r = new SplittableRandom(5);
        long[][] ranges = {{0, 0}, {-1, -1}, {0, 9}, {1, 10}, {-10, 10}, {7, 123}, {-123, -7}, {99, 100}, {-1000, 999}, {5, 5},
                {0, JsonSchemaGrammar.MAX_INTEGER}, {-JsonSchemaGrammar.MAX_INTEGER, -1}, {123456789, 987654321012L}};
        for (long[] range : ranges) checkRange(range[0], range[1], r);
        for (int i = 0; i < 60; i++) {
            long a = r.nextLong(-2000, 2000), b = r.nextLong(-2000, 2000);
            checkRange(Math.min(a, b), Math.max(a, b), r);
        }
    }

    private static void checkRange(long lo, long hi, SplittableRandom r) {
        CompiledGrammar g = Grammar.compile(JsonSchemaGrammar.integersBetween(lo, hi));
        List<Long> probes = new ArrayList<>(List.of(lo, hi, lo - 1, hi + 1, 0L, -1L, 1L, JsonSchemaGrammar.MAX_INTEGER));
        for (long v = -2100; v <= 2100; v += 1 + r.nextInt(3)) probes.add(v);
        for (int i = 0; i < 200; i++) probes.add(r.nextLong(-JsonSchemaGrammar.MAX_INTEGER, JsonSchemaGrammar.MAX_INTEGER));
        for (long v : probes) {
            assertEquals(v >= lo && v <= hi, g.matches(Long.toString(v).getBytes(StandardCharsets.US_ASCII)), v + " in " + lo + ".." + hi);
        }
        assertFalse(g.matches("-0".getBytes(StandardCharsets.US_ASCII)));
        assertFalse(g.matches("007".getBytes(StandardCharsets.US_ASCII)));
    }

    @Test
    void anObjectOfManyOptionalPropertiesStillMatchesAndMoreAreRefused() throws Exception {
        StringBuilder props = new StringBuilder();
        for (int i = 0; i < JsonSchemaGrammar.MAX_PROPERTIES; i++) props.append(i == 0 ? "" : ",").append("\"p").append(i).append("\":{\"type\":\"integer\"}");
        CompiledGrammar g = grammar("{\"type\":\"object\",\"properties\":{" + props + "}}");
        assertTrue(g.matches("{\"p511\": 1}".getBytes(StandardCharsets.UTF_8)), "the last optional property alone");
        assertTrue(g.matches("{}".getBytes(StandardCharsets.UTF_8)));
        assertFalse(g.matches("{\"p511\": 1, \"p0\": 2}".getBytes(StandardCharsets.UTF_8)), "the schema's order");
        InvalidRequestException e = assertThrows(InvalidRequestException.class,
                () -> grammar("{\"type\":\"object\",\"properties\":{" + props + ",\"one_more\":{}}}"));
        assertTrue(e.getMessage().contains("more than 512 properties"), e.getMessage());
    }
}
