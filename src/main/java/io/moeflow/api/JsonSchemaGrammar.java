package io.moeflow.api;

import static io.moeflow.engine.grammar.Grammar.alt;
import static io.moeflow.engine.grammar.Grammar.anyOf;
import static io.moeflow.engine.grammar.Grammar.literal;
import static io.moeflow.engine.grammar.Grammar.not;
import static io.moeflow.engine.grammar.Grammar.opt;
import static io.moeflow.engine.grammar.Grammar.range;
import static io.moeflow.engine.grammar.Grammar.repeat;
import static io.moeflow.engine.grammar.Grammar.seq;
import static io.moeflow.engine.grammar.Grammar.star;
import static io.moeflow.engine.grammar.Grammar.union;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import io.moeflow.engine.grammar.Grammar;
import io.moeflow.engine.grammar.Grammar.Expr;
import java.util.ArrayList;
import java.util.EnumSet;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * A JSON schema compiled to a byte grammar for constrained sampling, after llama.cpp's json-schema-to-grammar:
 * each value is followed by bounded whitespace ({@code space ::= | " " | "\n"{1,2} [ \t]{0,20}}), numbers have at
 * most 16 digits per part, object properties come in the schema's order, required ones always, optional ones
 * each may be left out. What the grammar generates is valid against the schema; a keyword it cannot enforce is
 * refused (an InvalidRequestException naming the keyword and where it sits), never ignored.
 *
 * <p>Supported: {@code type} (a name or a list of names), {@code properties}, {@code required},
 * {@code additionalProperties} (false or absent: only the listed properties are generated; without
 * {@code properties}: true or a schema for the values of any keys), {@code items}, {@code minItems},
 * {@code prefixItems}, {@code maxItems}, {@code minLength}, {@code maxLength}, {@code minimum}/{@code maximum} and the exclusive ones
 * (integers only), {@code enum}, {@code const}, {@code anyOf},
 * {@code oneOf} (branches no value can match twice: distinct types or a required discriminator property), {@code allOf} of one schema, {@code $ref} to a JSON pointer
 * in the same document ({@code #/$defs/x}, recursion included), {@code uniqueItems: false} and the annotations
 * (title, description, default, examples, ...). The empty schema is any JSON value.
 */
public final class JsonSchemaGrammar {
    /** Repetition bounds above this are refused: the grammar spells a bounded repetition out. */
    public static final int MAX_BOUND = 4096;
    private static final int MAX_DEPTH = 64;
    /** Properties per object: optional ones nest the matcher's rule expansion one level each. */
    public static final int MAX_PROPERTIES = 512;

    private static final Set<String> ANNOTATIONS = Set.of("title", "description", "default", "examples", "$schema", "$id",
            "$comment", "deprecated", "readOnly", "writeOnly", "$defs", "definitions", "$anchor", "discriminator");
    private static final Set<String> OBJECT_KEYWORDS = Set.of("properties", "required", "additionalProperties");
    private static final Set<String> ARRAY_KEYWORDS = Set.of("items", "prefixItems", "minItems", "maxItems", "uniqueItems");
    private static final Set<String> STRING_KEYWORDS = Set.of("minLength", "maxLength");
    private static final Set<String> INTEGER_KEYWORDS = Set.of("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum");
    /** The largest magnitude the integer grammar writes (16 digits, as llama.cpp's). */
    static final long MAX_INTEGER = 9_999_999_999_999_999L;
    private static final Set<String> COMBINATORS = Set.of("anyOf", "oneOf", "allOf", "$ref", "enum", "const");

    enum Type { OBJECT, ARRAY, STRING, NUMBER, INTEGER, BOOLEAN, NULL }

    // the JSON building blocks, as llama.cpp's PRIMITIVE_RULES
    private final Expr space = opt(alt(literal(" "), seq(repeat(literal("\n"), 1, 2), repeat(anyOf(" \t"), 0, 20))));
    private final Expr digit = range('0', '9');
    private final Expr integral = alt(literal("0"), seq(range('1', '9'), repeat(digit, 0, 15)));
    private final Expr integer = seq(opt(literal("-")), integral);
    private final Expr number = seq(integer, opt(seq(literal("."), repeat(digit, 1, 16))),
            opt(seq(anyOf("eE"), opt(anyOf("-+")), repeat(digit, 1, 16))));
    private final Expr hex = union(range('0', '9'), range('a', 'f'), range('A', 'F'));
    /** \\uXXXX without the surrogate range, so that every escape is one character (lengths stay exact). */
    private final Expr unicodeEscape = seq(literal("u"), alt(
            seq(union(range('0', '9'), range('a', 'c'), range('A', 'C'), range('e', 'f'), range('E', 'F')), hex, hex, hex),
            seq(anyOf("dD"), range('0', '7'), hex, hex)));
    private final Expr character = Grammar.rule("char").define(alt(
            not(union(range(0x00, 0x1F), anyOf("\"\\"), range(0x7F, 0xFF))),
            seq(literal("\\"), alt(anyOf("\"\\/bfnrt"), unicodeEscape)),
            Grammar.utf8NonAscii()));
    private final Expr anyString = Grammar.rule("string").define(seq(literal("\""), star(character), literal("\""), space));
    private final Grammar.Rule anyValue = Grammar.rule("value");
    private final Grammar.Rule anyObjectRule = Grammar.rule("object");
    private final Grammar.Rule anyArrayRule = Grammar.rule("array");

    private final String field;
    private final JsonNode root;
    private final Map<String, Grammar.Rule> refs = new HashMap<>();
    /** The $refs being resolved since the last bracket: one of them again would be a rule matching nothing first. */
    private java.util.Set<String> openRefs = new java.util.HashSet<>();

    private JsonSchemaGrammar(String field, JsonNode root) {
        this.field = field;
        this.root = root;
        Expr scalarNumber = seq(number, space);
        anyValue.define(alt(anyObjectRule, anyArrayRule, anyString, scalarNumber, seq(alt(literal("true"), literal("false")), space),
                seq(literal("null"), space)));
        anyObjectRule.define(seq(literal("{"), space, opt(seq(pair(anyString, anyValue), star(seq(literal(","), space,
                pair(anyString, anyValue))))), literal("}"), space));
        anyArrayRule.define(list(anyValue, 0, Grammar.UNBOUNDED));
    }

    /** Any JSON object (response_format json_object). */
    public static Expr anyObject() {
        return new JsonSchemaGrammar("response_format", null).anyObjectRule;
    }

    /**
     * The grammar of the values valid against {@code schema}; {@code field} names the schema in errors (such as
     * "response_format.json_schema.schema").
     */
    public static Expr compile(JsonNode schema, String field) {
        JsonSchemaGrammar c = new JsonSchemaGrammar(field, schema);
        return c.visit(schema, "", 0);
    }

    private Expr pair(Expr key, Expr value) {
        return seq(key, literal(":"), space, value);
    }

    /** "[" items "]" with min..max items. */
    private Expr list(Expr item, int min, int max) {
        Expr more = seq(literal(","), space, item);
        Expr items;
        if (max == 0) items = Grammar.empty();
        else if (min == 0) items = opt(seq(item, repeat(more, 0, max == Grammar.UNBOUNDED ? Grammar.UNBOUNDED : max - 1)));
        else items = seq(item, repeat(more, min - 1, max == Grammar.UNBOUNDED ? Grammar.UNBOUNDED : max - 1));
        return seq(literal("["), space, items, literal("]"), space);
    }

    private InvalidRequestException refuse(String path, String message) {
        String where = path.isEmpty() ? field : field + " at " + path;
        return new InvalidRequestException(field, where + ": " + message, "unsupported_parameter");
    }

    private InvalidRequestException unsupported(String path, String keyword) {
        return refuse(path, "the JSON schema keyword '" + keyword + "' cannot be enforced by moeflow's constrained"
                + " sampling, so the schema is refused (docs/CONFIGURATION.md lists the supported keywords)");
    }

    private Expr visit(JsonNode schema, String path, int depth) {
        if (depth > MAX_DEPTH) throw refuse(path, "the schema nests deeper than " + MAX_DEPTH + " levels");
        if (schema.isBoolean()) {
            if (schema.booleanValue()) return anyValue;
            throw refuse(path, "the schema false matches nothing");
        }
        if (!schema.isObject()) throw refuse(path, "a schema must be an object or a boolean, got " + RequestParser.kind(schema));
        for (Map.Entry<String, JsonNode> e : schema.properties()) {
            String k = e.getKey();
            if (!ANNOTATIONS.contains(k) && !OBJECT_KEYWORDS.contains(k) && !ARRAY_KEYWORDS.contains(k)
                    && !STRING_KEYWORDS.contains(k) && !INTEGER_KEYWORDS.contains(k) && !COMBINATORS.contains(k)
                    && !k.equals("type")) {
                throw unsupported(path, k);
            }
        }
        if (schema.has("$ref")) return ref(schema, path, depth);
        if (schema.has("anyOf") || schema.has("oneOf") || schema.has("allOf")) return combination(schema, path, depth);
        if (schema.has("const") || schema.has("enum")) return constants(schema, path);
        EnumSet<Type> types = declaredTypes(schema, path);
        if (types == null) {
            types = EnumSet.noneOf(Type.class);
            if (hasAny(schema, OBJECT_KEYWORDS)) types.add(Type.OBJECT);
            if (hasAny(schema, ARRAY_KEYWORDS)) types.add(Type.ARRAY);
            if (hasAny(schema, STRING_KEYWORDS)) types.add(Type.STRING);
            for (String k : INTEGER_KEYWORDS) {
                if (schema.has(k)) throw refuse(path, "'" + k + "' is enforced for \"type\": \"integer\" only: say the type");
            }
            if (types.size() > 1) {
                throw refuse(path, "the schema has keywords of several types (" + types + ") and no 'type': say which");
            }
            if (types.isEmpty()) return anyValue;
        }
        for (String k : OBJECT_KEYWORDS) if (schema.has(k) && !types.contains(Type.OBJECT)) throw notForType(path, k, types);
        for (String k : ARRAY_KEYWORDS) if (schema.has(k) && !types.contains(Type.ARRAY)) throw notForType(path, k, types);
        for (String k : STRING_KEYWORDS) if (schema.has(k) && !types.contains(Type.STRING)) throw notForType(path, k, types);
        for (String k : INTEGER_KEYWORDS) {
            if (schema.has(k) && (!types.contains(Type.INTEGER) || types.contains(Type.NUMBER))) {
                throw refuse(path, "'" + k + "' is enforced for integers only (\"type\": \"integer\"), not for " + types);
            }
        }
        List<Expr> options = new ArrayList<>();
        for (Type t : types) {
            if (t == Type.INTEGER && types.contains(Type.NUMBER)) continue; // number covers it
            options.add(switch (t) {
                case OBJECT -> insideBrackets(() -> object(schema, path, depth));
                case ARRAY -> insideBrackets(() -> array(schema, path, depth));
                case STRING -> string(schema, path);
                case NUMBER -> seq(number, space);
                case INTEGER -> hasAny(schema, INTEGER_KEYWORDS) ? seq(integerRange(schema, path), space) : seq(integer, space);
                case BOOLEAN -> seq(alt(literal("true"), literal("false")), space);
                case NULL -> seq(literal("null"), space);
            });
        }
        return alt(options);
    }

    /** Compiles what sits inside a bracket: a $ref cycle through it consumes the bracket, so it is fine. */
    private Expr insideBrackets(java.util.function.Supplier<Expr> inner) {
        java.util.Set<String> outer = openRefs;
        openRefs = new java.util.HashSet<>();
        try {
            return inner.get();
        } finally {
            openRefs = outer;
        }
    }

    private InvalidRequestException notForType(String path, String keyword, Set<Type> types) {
        return refuse(path, "'" + keyword + "' does not apply to type " + types + "; moeflow refuses what it would not enforce");
    }

    private static boolean hasAny(JsonNode schema, Set<String> keywords) {
        for (String k : keywords) if (schema.has(k)) return true;
        return false;
    }

    /** The types named by 'type', or null without it. */
    private EnumSet<Type> declaredTypes(JsonNode schema, String path) {
        JsonNode type = schema.get("type");
        if (type == null) return null;
        EnumSet<Type> types = EnumSet.noneOf(Type.class);
        if (type.isTextual()) {
            types.add(typeNamed(type.textValue(), path));
        } else if (type.isArray() && !type.isEmpty()) {
            for (JsonNode t : type) {
                if (!t.isTextual()) throw refuse(path + "/type", "type names must be strings, got " + RequestParser.kind(t));
                types.add(typeNamed(t.textValue(), path));
            }
        } else {
            throw refuse(path + "/type", "type must be a type name or a non-empty array of them");
        }
        return types;
    }

    private Type typeNamed(String name, String path) {
        return switch (name) {
            case "object" -> Type.OBJECT;
            case "array" -> Type.ARRAY;
            case "string" -> Type.STRING;
            case "number" -> Type.NUMBER;
            case "integer" -> Type.INTEGER;
            case "boolean" -> Type.BOOLEAN;
            case "null" -> Type.NULL;
            default -> throw refuse(path + "/type", "unknown type '" + ClientText.forLog(name) + "'");
        };
    }

    /** Only annotations may stand beside {@code keyword} (and 'type' where {@code typeAllowed}). */
    private void alone(JsonNode schema, String keyword, String path, boolean typeAllowed) {
        for (Map.Entry<String, JsonNode> e : schema.properties()) {
            String k = e.getKey();
            if (k.equals(keyword) || ANNOTATIONS.contains(k) || (typeAllowed && k.equals("type"))) continue;
            if ((keyword.equals("const") || keyword.equals("enum")) && (k.equals("const") || k.equals("enum"))) continue;
            throw refuse(path, "'" + k + "' beside '" + keyword + "' is not supported: put the constraints inside one of them");
        }
    }

    private Expr ref(JsonNode schema, String path, int depth) {
        alone(schema, "$ref", path, false);
        JsonNode ref = schema.get("$ref");
        if (!ref.isTextual()) throw refuse(path + "/$ref", "$ref must be a string");
        String target = ref.textValue();
        if (openRefs.contains(target)) {
            throw refuse(path + "/$ref", "$ref " + ClientText.forLog(target) + " refers back to itself before any bracket:"
                    + " no JSON value matches it");
        }
        Grammar.Rule known = refs.get(target);
        if (known != null) return known;
        JsonNode resolved = resolve(target, path);
        Grammar.Rule rule = Grammar.rule("ref " + target);
        refs.put(target, rule);
        openRefs.add(target);
        rule.define(visit(resolved, target.substring(1), depth + 1));
        openRefs.remove(target);
        return rule;
    }

    /** A JSON pointer into this document ("#", "#/$defs/name", with ~0 and ~1 escapes). */
    private JsonNode resolve(String target, String path) {
        if (!target.equals("#") && !target.startsWith("#/")) {
            throw refuse(path + "/$ref", "$ref must point into this schema (\"#/$defs/name\"), got " + ClientText.forLog(target));
        }
        JsonNode node = root;
        if (target.length() > 1) {
            for (String part : target.substring(2).split("/", -1)) {
                String key = java.net.URLDecoder.decode(part.replace("+", "%2B"), java.nio.charset.StandardCharsets.UTF_8)
                        .replace("~1", "/").replace("~0", "~");
                node = node.isArray() && key.matches("\\d+") ? node.get(Integer.parseInt(key)) : node.get(key);
                if (node == null) throw refuse(path + "/$ref", "$ref " + ClientText.forLog(target) + " points to nothing");
            }
        }
        return node;
    }

    private Expr combination(JsonNode schema, String path, int depth) {
        String keyword = schema.has("anyOf") ? "anyOf" : schema.has("oneOf") ? "oneOf" : "allOf";
        alone(schema, keyword, path, false);
        JsonNode branches = schema.get(keyword);
        if (!branches.isArray() || branches.isEmpty()) throw refuse(path + "/" + keyword, keyword + " must be a non-empty array of schemas");
        if (keyword.equals("allOf")) {
            if (branches.size() != 1) throw refuse(path + "/allOf", "allOf of more than one schema is not supported");
            return visit(branches.get(0), path + "/allOf/0", depth + 1);
        }
        if (keyword.equals("oneOf")) checkDisjoint(branches, path);
        List<Expr> options = new ArrayList<>();
        for (int i = 0; i < branches.size(); i++) options.add(visit(branches.get(i), path + "/" + keyword + "/" + i, depth + 1));
        return alt(options);
    }

    /**
     * oneOf wants exactly one branch to match; moeflow enforces that only when no value can match two branches,
     * which it can tell for branches of distinct types (from 'type', 'const' or 'enum') and for object branches that
     * both require a property whose const/enum values differ (a discriminator, as pydantic writes tagged unions).
     */
    private void checkDisjoint(JsonNode branches, String path) {
        for (int i = 0; i < branches.size(); i++) {
            for (int j = 0; j < i; j++) {
                if (!disjoint(deref(branches.get(i), path), deref(branches.get(j), path))) {
                    throw refuse(path + "/oneOf", "oneOf is enforced only when no value can match two branches (distinct"
                            + " types, or a required property with different const/enum values); branches " + j + " and " + i
                            + " may overlap: use anyOf if overlap is fine");
                }
            }
        }
    }

    private JsonNode deref(JsonNode schema, String path) {
        for (int hops = 0; hops < 16 && schema.isObject() && schema.path("$ref").isTextual(); hops++) {
            schema = resolve(schema.get("$ref").textValue(), path);
        }
        return schema;
    }

    private boolean disjoint(JsonNode a, JsonNode b) {
        EnumSet<Type> ta = typesOf(a), tb = typesOf(b);
        if (ta != null && tb != null && ta.stream().noneMatch(tb::contains)) return true;
        EnumSet<Type> object = EnumSet.of(Type.OBJECT);
        if (!object.equals(ta) || !object.equals(tb)) return false;
        for (JsonNode name : a.path("required")) {
            if (!name.isTextual() || !contains(b.path("required"), name)) continue;
            List<JsonNode> va = constants(deref(a.path("properties").path(name.textValue()), ""));
            List<JsonNode> vb = constants(deref(b.path("properties").path(name.textValue()), ""));
            if (va != null && vb != null && va.stream().noneMatch(vb::contains)) return true;
        }
        return false;
    }

    private static boolean contains(JsonNode array, JsonNode value) {
        for (JsonNode v : array) if (v.equals(value)) return true;
        return false;
    }

    /** The values a const/enum schema allows, or null when it is not one. */
    private static List<JsonNode> constants(JsonNode schema) {
        if (schema.has("const")) return List.of(schema.get("const"));
        if (schema.path("enum").isArray()) {
            List<JsonNode> values = new ArrayList<>();
            schema.get("enum").forEach(values::add);
            return values;
        }
        return null;
    }

    /** The types a schema's values can have (integer counted as number too), or null when unknown. */
    private EnumSet<Type> typesOf(JsonNode schema) {
        if (!schema.isObject()) return null;
        EnumSet<Type> types = EnumSet.noneOf(Type.class);
        if (schema.has("const")) {
            types.add(typeOfValue(schema.get("const")));
        } else if (schema.has("enum") && schema.get("enum").isArray()) {
            for (JsonNode v : schema.get("enum")) types.add(typeOfValue(v));
        } else {
            JsonNode type = schema.get("type");
            if (type == null) return null;
            for (JsonNode t : type.isArray() ? type : List.of(type)) {
                if (!t.isTextual()) return null;
                try {
                    types.add(typeNamed(t.textValue(), ""));
                } catch (InvalidRequestException e) {
                    return null;
                }
            }
        }
        if (types.contains(Type.INTEGER)) types.add(Type.NUMBER);
        if (types.contains(Type.NUMBER)) types.add(Type.INTEGER);
        return types;
    }

    private static Type typeOfValue(JsonNode v) {
        return switch (v.getNodeType()) {
            case OBJECT -> Type.OBJECT;
            case ARRAY -> Type.ARRAY;
            case STRING -> Type.STRING;
            case NUMBER -> Type.NUMBER;
            case BOOLEAN -> Type.BOOLEAN;
            default -> Type.NULL;
        };
    }

    private Expr constants(JsonNode schema, String path) {
        alone(schema, schema.has("const") ? "const" : "enum", path, true);
        List<JsonNode> values = new ArrayList<>();
        if (schema.has("const")) values.add(schema.get("const"));
        if (schema.has("enum")) {
            JsonNode e = schema.get("enum");
            if (!e.isArray() || e.isEmpty()) throw refuse(path + "/enum", "enum must be a non-empty array");
            if (schema.has("const")) {
                boolean listed = false;
                for (JsonNode v : e) listed |= v.equals(schema.get("const"));
                if (!listed) throw refuse(path, "const is not one of enum's values: nothing matches");
            } else {
                e.forEach(values::add);
            }
        }
        EnumSet<Type> types = declaredTypes(schema, path);
        List<Expr> options = new ArrayList<>();
        for (JsonNode v : values) {
            Type t = typeOfValue(v);
            boolean fits = types == null || types.contains(t) || (t == Type.NUMBER && types.contains(Type.INTEGER)
                    && RequestParser.isIntegral(v));
            if (!fits) continue; // a value of another type is not valid against the schema
            options.add(seq(literal(compact(v)), space));
        }
        if (options.isEmpty()) throw refuse(path, "no value of const/enum has the schema's type: nothing matches");
        return alt(options);
    }

    private static String compact(JsonNode v) {
        try {
            return RequestParser.JSON.writeValueAsString(v);
        } catch (JsonProcessingException e) {
            throw new IllegalStateException(e);
        }
    }

    private Expr object(JsonNode schema, String path, int depth) {
        JsonNode properties = schema.get("properties");
        JsonNode additional = schema.get("additionalProperties");
        JsonNode required = schema.get("required");
        if (properties != null && !properties.isObject()) throw refuse(path + "/properties", "properties must be an object");
        if (required != null && !required.isArray()) throw refuse(path + "/required", "required must be an array of names");
        if (additional != null && !additional.isBoolean() && !additional.isObject()) {
            throw refuse(path + "/additionalProperties", "additionalProperties must be a boolean or a schema");
        }
        LinkedHashMap<String, JsonNode> props = new LinkedHashMap<>();
        if (properties != null) properties.properties().forEach(e -> props.put(e.getKey(), e.getValue()));
        List<String> requiredNames = new ArrayList<>();
        if (required != null) {
            for (JsonNode r : required) {
                if (!r.isTextual()) throw refuse(path + "/required", "required must be an array of names");
                if (!requiredNames.contains(r.textValue())) requiredNames.add(r.textValue());
            }
        }
        boolean additionalAllowed = additional != null && !(additional.isBoolean() && !additional.booleanValue());
        if (props.isEmpty() && requiredNames.isEmpty()) {
            if (additional == null || (additional.isBoolean() && additional.booleanValue())) return anyObjectRule;
            if (!additionalAllowed) return seq(literal("{"), space, literal("}"), space);
            Expr value = visit(additional, path + "/additionalProperties", depth + 1);
            return seq(literal("{"), space, opt(seq(pair(anyString, value), star(seq(literal(","), space, pair(anyString, value))))),
                    literal("}"), space);
        }
        if (additionalAllowed) {
            throw refuse(path + "/additionalProperties", "additionalProperties other than false beside properties is not"
                    + " supported (strict schemas set it to false)");
        }
        for (String name : requiredNames) props.putIfAbsent(name, com.fasterxml.jackson.databind.node.BooleanNode.TRUE);
        if (props.size() > MAX_PROPERTIES) {
            throw refuse(path + "/properties", "more than " + MAX_PROPERTIES + " properties in one object are not supported");
        }
        List<Expr> members = new ArrayList<>();
        List<Boolean> isRequired = new ArrayList<>();
        for (Map.Entry<String, JsonNode> p : props.entrySet()) {
            String childPath = path + "/properties/" + p.getKey().replace("~", "~0").replace("/", "~1");
            Expr value = visit(p.getValue(), childPath, depth + 1);
            members.add(pair(seq(literal(compact(com.fasterxml.jackson.databind.node.TextNode.valueOf(p.getKey()))), space), value));
            isRequired.add(requiredNames.contains(p.getKey()));
        }
        return seq(literal("{"), space, members(members, isRequired), literal("}"), space);
    }

    /**
     * The members in order, each optional one possibly left out, with commas only between members: first(i) is what
     * may come from member i on when none came before, rest(i) when some did.
     */
    private Expr members(List<Expr> members, List<Boolean> required) {
        int n = members.size();
        Expr[] rest = new Expr[n + 1];
        Expr[] first = new Expr[n + 1];
        rest[n] = Grammar.empty();
        first[n] = Grammar.empty();
        for (int i = n - 1; i >= 0; i--) {
            Expr withComma = seq(literal(","), space, members.get(i));
            rest[i] = Grammar.rule("rest").define(required.get(i) ? seq(withComma, rest[i + 1]) : seq(opt(withComma), rest[i + 1]));
            Expr taken = seq(members.get(i), rest[i + 1]);
            first[i] = Grammar.rule("first").define(required.get(i) ? taken : alt(taken, first[i + 1]));
        }
        return first[0];
    }

    private Expr array(JsonNode schema, String path, int depth) {
        JsonNode items = schema.get("items");
        if (items != null && items.isArray()) throw refuse(path + "/items", "items as an array is draft-4 tuples: use prefixItems");
        JsonNode unique = schema.get("uniqueItems");
        if (unique != null && !(unique.isBoolean() && !unique.booleanValue())) throw unsupported(path, "uniqueItems");
        int min = bound(schema, "minItems", path, 0);
        int max = bound(schema, "maxItems", path, Grammar.UNBOUNDED);
        if (max != Grammar.UNBOUNDED && max < min) throw refuse(path, "maxItems is below minItems: nothing matches");
        // items: false allows no item (beyond prefixItems); absent, any value
        Expr item = items == null ? anyValue : items.isBoolean() && !items.booleanValue() ? null
                : visit(items, path + "/items", depth + 1);
        JsonNode prefix = schema.get("prefixItems");
        if (prefix == null || prefix.isEmpty()) {
            if (prefix != null && !prefix.isArray()) throw refuse(path + "/prefixItems", "prefixItems must be an array of schemas");
            return item == null ? list(Grammar.empty(), 0, 0) : list(item, min, max);
        }
        if (!prefix.isArray()) throw refuse(path + "/prefixItems", "prefixItems must be an array of schemas");
        // the prefix items in full (as many as maxItems lets), then more items of 'items' up to maxItems
        int fixed = max == Grammar.UNBOUNDED ? prefix.size() : Math.min(prefix.size(), max);
        if (fixed == 0) return list(Grammar.empty(), 0, 0);
        List<Expr> parts = new ArrayList<>(List.of(literal("["), space));
        for (int i = 0; i < fixed; i++) {
            if (i > 0) parts.addAll(List.of(literal(","), space));
            parts.add(visit(prefix.get(i), path + "/prefixItems/" + i, depth + 1));
        }
        int moreMin = Math.max(0, min - fixed);
        int moreMax = max == Grammar.UNBOUNDED ? Grammar.UNBOUNDED : max - fixed;
        if (item == null || (items == null && moreMin == 0)) {
            // items: false, or absent (then nothing more is generated: a shorter choice, still valid)
            if (moreMin > 0) throw refuse(path, "minItems is more than prefixItems and items is false: nothing matches");
        } else if (moreMax != 0) {
            parts.add(repeat(seq(literal(","), space, item), moreMin, moreMax));
        }
        parts.addAll(List.of(literal("]"), space));
        return seq(parts.toArray(Expr[]::new));
    }

    private Expr string(JsonNode schema, String path) {
        int min = bound(schema, "minLength", path, 0);
        int max = bound(schema, "maxLength", path, Grammar.UNBOUNDED);
        if (max != Grammar.UNBOUNDED && max < min) throw refuse(path, "maxLength is below minLength: nothing matches");
        if (min == 0 && max == Grammar.UNBOUNDED) return anyString;
        return seq(literal("\""), repeat(character, min, max), literal("\""), space);
    }

    /** The integers in the schema's bounds (minimum, maximum, exclusive ones), within the grammar's 16 digits. */
    private Expr integerRange(JsonNode schema, String path) {
        long lo = -MAX_INTEGER, hi = MAX_INTEGER;
        for (String k : INTEGER_KEYWORDS) {
            JsonNode v = schema.get(k);
            if (v == null) continue;
            if (!v.isNumber() || !Double.isFinite(v.doubleValue())) throw refuse(path + "/" + k, k + " must be a number, got " + v);
            java.math.BigDecimal d = v.decimalValue();
            java.math.BigDecimal limit = java.math.BigDecimal.valueOf(MAX_INTEGER + 1);
            java.math.BigDecimal clamped = d.max(limit.negate()).min(limit); // beyond 16 digits nothing is written anyway
            long bound = switch (k) {
                case "minimum" -> clamped.setScale(0, java.math.RoundingMode.CEILING).longValueExact();
                case "exclusiveMinimum" -> clamped.setScale(0, java.math.RoundingMode.FLOOR).longValueExact() + 1;
                case "maximum" -> clamped.setScale(0, java.math.RoundingMode.FLOOR).longValueExact();
                default -> clamped.setScale(0, java.math.RoundingMode.CEILING).longValueExact() - 1;
            };
            if (k.endsWith("inimum")) lo = Math.max(lo, bound);
            else hi = Math.min(hi, bound);
        }
        if (lo > hi) throw refuse(path, "no integer lies within minimum/maximum: nothing matches");
        return integersBetween(lo, hi);
    }

    /** The decimal integers lo..hi (|values| <= MAX_INTEGER), without leading zeros or "-0". */
    static Expr integersBetween(long lo, long hi) {
        List<Expr> options = new ArrayList<>();
        if (lo < 0) options.add(seq(literal("-"), naturalsBetween(Math.max(1, -Math.min(hi, -1)), -lo)));
        if (hi >= 0) options.add(naturalsBetween(Math.max(lo, 0), hi));
        return alt(options);
    }

    private static Expr naturalsBetween(long a, long b) {
        List<Expr> options = new ArrayList<>();
        int from = Long.toString(a).length(), to = Long.toString(b).length();
        for (int length = from; length <= to; length++) {
            long first = length == 1 ? 0 : pow10(length - 1), last = pow10(length) - 1;
            options.add(sameLength(Long.toString(Math.max(a, first)), Long.toString(Math.min(b, last))));
        }
        return alt(options);
    }

    private static long pow10(int n) {
        long p = 1;
        for (int i = 0; i < n; i++) p *= 10;
        return p;
    }

    /** The digit strings x..y of one length, digit by digit (as regex range generators do). */
    private static Expr sameLength(String x, String y) {
        if (x.equals(y)) return literal(x);
        char x0 = x.charAt(0), y0 = y.charAt(0);
        if (x.length() == 1) return range(x0, y0);
        String xs = x.substring(1), ys = y.substring(1);
        if (x0 == y0) return seq(literal(String.valueOf(x0)), sameLength(xs, ys));
        int n = xs.length();
        if (xs.equals("0".repeat(n)) && ys.equals("9".repeat(n))) return seq(range(x0, y0), repeat(range('0', '9'), n, n));
        List<Expr> options = new ArrayList<>();
        options.add(seq(literal(String.valueOf(x0)), sameLength(xs, "9".repeat(n))));
        if (y0 - x0 >= 2) options.add(seq(range(x0 + 1, y0 - 1), repeat(range('0', '9'), n, n)));
        options.add(seq(literal(String.valueOf(y0)), sameLength("0".repeat(n), ys)));
        return alt(options);
    }

    private int bound(JsonNode schema, String keyword, String path, int absent) {
        JsonNode v = schema.get(keyword);
        if (v == null) return absent;
        if (!v.isNumber() || !RequestParser.isIntegral(v) || v.doubleValue() < 0) {
            throw refuse(path + "/" + keyword, keyword + " must be a non-negative integer, got " + v);
        }
        if (v.doubleValue() > MAX_BOUND) {
            throw refuse(path + "/" + keyword, keyword + " above " + MAX_BOUND + " is not supported, got " + v);
        }
        return v.intValue();
    }
}
