package io.moeflow.api.http;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.moeflow.api.GenerationService;
import io.moeflow.api.InvalidRequestException;
import io.moeflow.api.ModelRuntime;
import io.moeflow.api.OpenAiFields;
import io.moeflow.api.MoeflowConfig;
import io.moeflow.api.PromptSpec;
import io.moeflow.api.RequestParser;
import io.moeflow.tokenizer.Tokenizer;
import io.vertx.ext.web.Router;
import io.vertx.ext.web.RoutingContext;
import io.vertx.ext.web.handler.BodyHandler;
import jakarta.enterprise.context.ApplicationScoped;
import jakarta.enterprise.event.Observes;
import jakarta.inject.Inject;
import java.nio.ByteBuffer;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Callable;

/**
 * llama-server's routes that show what the model gets: POST /apply-template (a chat request's rendered prompt),
 * POST /tokenize and POST /detokenize. They need the API key like the /v1 routes ({@link AccessControl}) and answer
 * errors the same way ({@link HttpErrors}); the work runs off the event loop.
 */
@ApplicationScoped
public class ModelInputRoutes {
    /** The paths, for AccessControl (API key) and the docs. */
    static final List<String> PATHS = List.of("/apply-template", "/tokenize", "/detokenize");

    @Inject
    HttpErrors errors;
    @Inject
    GenerationService service;
    @Inject
    ModelRuntime runtime;
    @Inject
    MoeflowConfig config;

    void register(@Observes Router router) {
        BodyHandler body = BodyHandler.create(false).setBodyLimit(config.limits().maxRequestBytes());
        router.post("/apply-template").handler(body).handler(ctx -> answer(ctx, this::applyTemplate));
        router.post("/tokenize").handler(body).handler(ctx -> answer(ctx, this::tokenize));
        router.post("/detokenize").handler(body).handler(ctx -> answer(ctx, this::detokenize));
    }

    private interface Handler {
        JsonNode handle(ObjectNode body);
    }

    /** Parses the body, checks the model is loaded, runs the handler off the event loop, answers 200 or an error. */
    private void answer(RoutingContext ctx, Handler handler) {
        ObjectNode body;
        try {
            io.vertx.core.buffer.Buffer raw = ctx.body().buffer();
            body = RequestParser.parseObject(raw == null ? null : raw.getBytes());
            service.engine(); // 503 while the model loads
        } catch (RuntimeException e) {
            errors.sendError(ctx, e);
            return;
        }
        Callable<JsonNode> work = () -> handler.handle(body);
        ctx.vertx().executeBlocking(work, false)
                .onSuccess(result -> HttpErrors.sendJson(ctx.response(), 200, result))
                .onFailure(e -> errors.sendError(ctx, e));
    }

    /** {"prompt": the chat template applied to the request, exactly as a chat completion would render it}. */
    private JsonNode applyTemplate(ObjectNode body) {
        OpenAiFields.checkHttp(body, OpenAiFields.Endpoint.CHAT); // the fields a chat completion takes, no others
        PromptSpec spec = service.parser().chat(body);
        ObjectNode out = RequestParser.JSON.createObjectNode();
        out.put("prompt", service.renderChat(spec));
        return out;
    }

    /**
     * llama-server's /tokenize: {@code content} (a string, or an array of strings and token ids), {@code add_special}
     * (default false), {@code parse_special} (default true), {@code with_pieces} (default false: ids only; true:
     * {id, piece} with the piece as a string, or as its bytes when they are not valid UTF-8).
     */
    private JsonNode tokenize(ObjectNode body) {
        boolean addSpecial = RequestParser.booleanField(body, "add_special");
        boolean parseSpecial = !body.has("parse_special") || body.get("parse_special").isNull() || RequestParser.booleanField(body, "parse_special");
        boolean withPieces = RequestParser.booleanField(body, "with_pieces");
        JsonNode content = body.get("content");
        if (content == null || content.isNull()) throw new InvalidRequestException("content", "\"content\" is required");
        Tokenizer tokenizer = runtime.tokenizer();
        List<Integer> ids = new ArrayList<>();
        if (content.isTextual()) {
            checkLength(content.textValue().length());
            for (int id : tokenizer.encode(content.textValue(), addSpecial, parseSpecial)) ids.add(id);
        } else if (content.isArray()) {
            long chars = 0;
            for (int i = 0; i < content.size(); i++) {
                JsonNode part = content.get(i);
                if (part.isTextual()) {
                    chars += part.textValue().length();
                    checkLength(chars);
                    // as tokenize_mixed: special tokens (BOS) only for a leading string
                    for (int id : tokenizer.encode(part.textValue(), addSpecial && i == 0, parseSpecial)) ids.add(id);
                } else if (part.isIntegralNumber()) {
                    ids.add(tokenId(part, "content[" + i + "]", tokenizer));
                } else {
                    throw new InvalidRequestException("content", "content[" + i + "] must be a string or a token id, got " + RequestParser.kind(part));
                }
            }
        } else {
            throw new InvalidRequestException("content", "content must be a string or an array of strings and token ids, got " + RequestParser.kind(content));
        }
        ObjectNode out = RequestParser.JSON.createObjectNode();
        ArrayNode tokens = out.putArray("tokens");
        for (int id : ids) {
            if (!withPieces) {
                tokens.add(id);
                continue;
            }
            ObjectNode t = tokens.addObject();
            t.put("id", id);
            byte[] piece = tokenizer.pieceBytes(id);
            String text = utf8(piece);
            if (text != null) {
                t.put("piece", text);
            } else {
                ArrayNode bytes = t.putArray("piece");
                for (byte b : piece) bytes.add(b & 0xff);
            }
        }
        return out;
    }

    /** llama-server's /detokenize: {"tokens": [ids]} → {"content": the pieces joined (special tokens as their text)}. */
    private JsonNode detokenize(ObjectNode body) {
        JsonNode tokens = body.get("tokens");
        if (tokens == null || tokens.isNull()) throw new InvalidRequestException("tokens", "\"tokens\" is required");
        if (!tokens.isArray()) throw new InvalidRequestException("tokens", "tokens must be an array of token ids, got " + RequestParser.kind(tokens));
        Tokenizer tokenizer = runtime.tokenizer();
        java.io.ByteArrayOutputStream bytes = new java.io.ByteArrayOutputStream();
        for (int i = 0; i < tokens.size(); i++) {
            bytes.writeBytes(tokenizer.pieceBytes(tokenId(tokens.get(i), "tokens[" + i + "]", tokenizer)));
        }
        ObjectNode out = RequestParser.JSON.createObjectNode();
        out.put("content", bytes.toString(StandardCharsets.UTF_8));
        return out;
    }

    private static int tokenId(JsonNode node, String where, Tokenizer tokenizer) {
        String param = where.substring(0, where.indexOf('['));
        if (!node.isIntegralNumber() || !node.canConvertToInt() || node.intValue() < 0 || node.intValue() >= tokenizer.vocabSize()) {
            throw new InvalidRequestException(param, where + " must be a token id from 0 to " + (tokenizer.vocabSize() - 1) + ", got " + node);
        }
        return node.intValue();
    }

    private void checkLength(long chars) {
        int max = config.limits().maxPromptChars();
        if (chars > max) throw new InvalidRequestException("content", "content has " + chars + " characters, more than the limit of " + max);
    }

    /** The bytes as a string when they are valid UTF-8, else null. */
    private static String utf8(byte[] b) {
        try {
            return StandardCharsets.UTF_8.newDecoder().onMalformedInput(CodingErrorAction.REPORT)
                    .onUnmappableCharacter(CodingErrorAction.REPORT).decode(ByteBuffer.wrap(b)).toString();
        } catch (CharacterCodingException e) {
            return null;
        }
    }
}
