package io.moeflow.api.chat.jinja;

import io.moeflow.api.chat.jinja.Lexer.Kind;
import io.moeflow.api.chat.jinja.Lexer.Token;
import io.moeflow.api.chat.jinja.Node.Expr;
import io.moeflow.api.chat.jinja.Node.Stmt;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;

/**
 * jinja2's parser (same grammar and precedence: conditional, or, and, not, comparisons, + -, ~, * / // %, **,
 * unary, then postfix, filters and tests) for the statements chat templates use: for (with else, a filter
 * condition and recursive), if/elif/else, set (also to ns.attr, to tuples, and block sets), macro, call, filter,
 * with, break/continue, print, generation. include/import/extends/block are refused: a chat template is one
 * self-contained string. Nesting is bounded so that no template can exhaust the stack.
 */
final class Parser {
    private static final int MAX_NESTING = 200;
    private static final Set<String> COMPARE = Set.of("==", "!=", "<", "<=", ">", ">=");
    private static final Set<String> REFUSED = Set.of("block", "extends", "include", "import", "from", "autoescape");

    private final List<Token> tokens;
    private int i;
    private int nesting;

    private Parser(List<Token> tokens) {
        this.tokens = tokens;
    }

    static List<Stmt> parse(String source) {
        Parser p = new Parser(Lexer.tokenize(source));
        List<Stmt> body = p.subparse(null);
        if (p.cur().kind() != Kind.EOF) throw p.fail("unexpected '" + p.cur().text() + "'");
        return body;
    }

    private Token cur() {
        return tokens.get(i);
    }

    private Token look() {
        return tokens.get(Math.min(i + 1, tokens.size() - 1));
    }

    private Token next() {
        Token t = tokens.get(i);
        if (t.kind() != Kind.EOF) i++;
        return t;
    }

    private TemplateException fail(String message) {
        return TemplateException.syntax(message, cur().line());
    }

    private static String describe(Token t) {
        return switch (t.kind()) {
            case EOF -> "end of template";
            case BLOCK_END -> "end of statement block";
            case VARIABLE_END -> "end of print statement";
            case BLOCK_BEGIN -> "begin of statement block";
            case VARIABLE_BEGIN -> "begin of print statement";
            default -> t.text();
        };
    }

    private Token expectOp(String op) {
        if (!cur().isOp(op)) throw fail("expected token '" + op + "', got '" + describe(cur()) + "'");
        return next();
    }

    private Token expect(Kind kind) {
        if (cur().kind() != kind) throw fail("expected " + kind.name().toLowerCase() + ", got '" + describe(cur()) + "'");
        return next();
    }

    private Token expectName(String name) {
        if (!cur().isName(name)) throw fail("expected '" + name + "', got '" + describe(cur()) + "'");
        return next();
    }

    private boolean skipOp(String op) {
        if (cur().isOp(op)) {
            next();
            return true;
        }
        return false;
    }

    private boolean skipName(String name) {
        if (cur().isName(name)) {
            next();
            return true;
        }
        return false;
    }

    private void nest() {
        if (++nesting > MAX_NESTING) throw fail("the template nests deeper than " + MAX_NESTING + " levels");
    }

    private void unnest() {
        nesting--;
    }

    // ---- statements ------------------------------------------------------------------------------------

    private List<Stmt> subparse(Set<String> endTokens) {
        List<Stmt> body = new ArrayList<>();
        List<Object> data = new ArrayList<>();
        int dataLine = 0;
        while (cur().kind() != Kind.EOF) {
            Token t = cur();
            if (t.kind() == Kind.DATA) {
                if (data.isEmpty()) dataLine = t.line();
                data.add(t.text());
                next();
            } else if (t.kind() == Kind.VARIABLE_BEGIN) {
                if (data.isEmpty()) dataLine = t.line();
                next();
                data.add(parseTuple(false, true, null, false, false));
                expect(Kind.VARIABLE_END);
            } else if (t.kind() == Kind.BLOCK_BEGIN) {
                if (!data.isEmpty()) {
                    body.add(new Node.Output(List.copyOf(data), dataLine));
                    data.clear();
                }
                next();
                if (endTokens != null && cur().kind() == Kind.NAME && endTokens.contains(cur().text())) return body;
                body.add(parseStatement());
                expect(Kind.BLOCK_END);
            } else {
                throw fail("unexpected '" + describe(t) + "'");
            }
        }
        if (!data.isEmpty()) body.add(new Node.Output(List.copyOf(data), dataLine));
        return body;
    }

    private List<Stmt> parseStatements(Set<String> endTokens, boolean dropNeedle) {
        skipOp(":");
        expect(Kind.BLOCK_END);
        nest();
        List<Stmt> body = subparse(endTokens);
        unnest();
        if (cur().kind() == Kind.EOF) {
            throw fail("unexpected end of template, expected " + String.join(" or ", endTokens.stream().sorted().map(s -> "'" + s + "'").toList()));
        }
        if (dropNeedle) next();
        return body;
    }

    private Stmt parseStatement() {
        Token t = cur();
        if (t.kind() != Kind.NAME) throw fail("tag name expected");
        int line = t.line();
        String name = t.text();
        if (REFUSED.contains(name)) {
            throw fail("the '" + name + "' tag is not supported: a chat template cannot load or define other templates");
        }
        return switch (name) {
            case "for" -> parseFor();
            case "if" -> parseIf();
            case "set" -> parseSet();
            case "macro" -> parseMacro();
            case "call" -> parseCallBlock();
            case "filter" -> {
                next();
                Node.Filter f = parseFilter(null, true);
                yield new Node.FilterBlock(f, parseStatements(Set.of("endfilter"), true), line);
            }
            case "with" -> parseWith();
            case "print" -> {
                next();
                List<Object> parts = new ArrayList<>();
                while (cur().kind() != Kind.BLOCK_END) {
                    if (!parts.isEmpty()) expectOp(",");
                    parts.add(parseExpression(true));
                }
                yield new Node.Output(parts, line);
            }
            case "break" -> {
                next();
                yield new Node.Break(line);
            }
            case "continue" -> {
                next();
                yield new Node.Continue(line);
            }
            case "generation" -> {
                next();
                yield new Node.Block(parseStatements(Set.of("endgeneration"), true), line);
            }
            default -> throw fail("Encountered unknown tag '" + name + "'.");
        };
    }

    private Stmt parseFor() {
        int line = expectName("for").line();
        Expr target = parseAssignTarget(true, false, Set.of("in"), false);
        expectName("in");
        Expr iter = parseTuple(false, false, Set.of("recursive"), false, false);
        Expr test = null;
        if (skipName("if")) test = parseExpression(true);
        boolean recursive = skipName("recursive");
        List<Stmt> body = parseStatements(Set.of("endfor", "else"), false);
        List<Stmt> orElse = List.of();
        if (next().text().equals("else")) orElse = parseStatements(Set.of("endfor"), true);
        return new Node.For(target, iter, body, orElse, test, recursive, line);
    }

    private Stmt parseIf() {
        int line = expectName("if").line();
        Expr test = parseTuple(false, false, null, false, false);
        List<Stmt> body = parseStatements(Set.of("elif", "else", "endif"), false);
        Token t = next();
        List<Stmt> orElse = List.of();
        if (t.text().equals("elif")) {
            // elif is an if nested in the else branch; it ends at the same endif
            i--;
            tokens.set(i, new Token(Kind.NAME, "if", "if", t.line()));
            orElse = List.of(parseIf());
            return new Node.If(test, body, orElse, line);
        }
        if (t.text().equals("else")) orElse = parseStatements(Set.of("endif"), true);
        return new Node.If(test, body, orElse, line);
    }

    private Stmt parseSet() {
        int line = next().line();
        Expr target = parseAssignTarget(true, false, null, true);
        if (skipOp("=")) return new Node.Assign(target, parseTuple(false, true, null, false, false), line);
        Node.Filter filter = cur().isOp("|") ? parseFilter(null, false) : null;
        return new Node.AssignBlock(target, filter, parseStatements(Set.of("endset"), true), line);
    }

    private Stmt parseMacro() {
        int line = next().line();
        String name = expect(Kind.NAME).text();
        List<String> params = new ArrayList<>();
        List<Expr> defaults = new ArrayList<>();
        parseSignature(params, defaults);
        return new Node.MacroDef(name, params, defaults, parseStatements(Set.of("endmacro"), true), line);
    }

    private void parseSignature(List<String> params, List<Expr> defaults) {
        expectOp("(");
        while (!cur().isOp(")")) {
            if (!params.isEmpty()) expectOp(",");
            String p = expect(Kind.NAME).text();
            if (skipOp("=")) {
                defaults.add(parseExpression(true));
            } else if (!defaults.isEmpty()) {
                throw fail("non-default argument follows default argument");
            }
            params.add(p);
        }
        expectOp(")");
    }

    private Stmt parseCallBlock() {
        int line = next().line();
        List<String> params = new ArrayList<>();
        List<Expr> defaults = new ArrayList<>();
        if (cur().isOp("(")) parseSignature(params, defaults);
        Expr call = parseExpression(true);
        if (!(call instanceof Node.Call c)) throw fail("expected call");
        return new Node.CallBlock(c, params, defaults, parseStatements(Set.of("endcall"), true), line);
    }

    private Stmt parseWith() {
        int line = next().line();
        List<Expr> targets = new ArrayList<>();
        List<Expr> values = new ArrayList<>();
        while (cur().kind() != Kind.BLOCK_END) {
            if (!targets.isEmpty()) expectOp(",");
            targets.add(parseAssignTarget(true, false, null, false));
            expectOp("=");
            values.add(parseExpression(true));
        }
        return new Node.With(targets, values, parseStatements(Set.of("endwith"), true), line);
    }

    private Expr parseAssignTarget(boolean withTuple, boolean nameOnly, Set<String> extraEnd, boolean withNamespace) {
        Expr target;
        if (nameOnly) {
            Token t = expect(Kind.NAME);
            target = new Node.Name(t.text(), t.line());
        } else if (withTuple) {
            target = parseTuple(true, true, extraEnd, false, withNamespace);
        } else {
            target = parsePrimary(withNamespace);
        }
        if (!assignable(target)) throw fail("can't assign to " + target.getClass().getSimpleName().toLowerCase());
        return target;
    }

    private static boolean assignable(Expr e) {
        if (e instanceof Node.Name n) return !Set.of("true", "false", "none", "True", "False", "None").contains(n.name());
        if (e instanceof Node.NsRef) return true;
        if (e instanceof Node.TupleExpr t) return t.items().stream().allMatch(Parser::assignable);
        return false;
    }

    // ---- expressions -----------------------------------------------------------------------------------

    private Expr parseExpression(boolean withCondexpr) {
        nest();
        try {
            return withCondexpr ? parseCondexpr() : parseOr();
        } finally {
            unnest();
        }
    }

    private Expr parseCondexpr() {
        int line = cur().line();
        Expr expr1 = parseOr();
        while (skipName("if")) {
            Expr test = parseOr();
            Expr expr3 = skipName("else") ? parseCondexpr() : null;
            expr1 = new Node.CondExpr(test, expr1, expr3, line);
            line = cur().line();
        }
        return expr1;
    }

    private Expr parseOr() {
        int line = cur().line();
        Expr left = parseAnd();
        while (skipName("or")) left = new Node.Or(left, parseAnd(), line);
        return left;
    }

    private Expr parseAnd() {
        int line = cur().line();
        Expr left = parseNot();
        while (skipName("and")) left = new Node.And(left, parseNot(), line);
        return left;
    }

    private Expr parseNot() {
        if (cur().isName("not")) {
            int line = next().line();
            nest();
            try {
                return new Node.Not(parseNot(), line);
            } finally {
                unnest();
            }
        }
        return parseCompare();
    }

    private Expr parseCompare() {
        int line = cur().line();
        Expr expr = parseMath1();
        List<Node.Operand> ops = new ArrayList<>();
        while (true) {
            Token t = cur();
            if (t.kind() == Kind.OPERATOR && COMPARE.contains(t.text())) {
                next();
                ops.add(new Node.Operand(t.text(), parseMath1()));
            } else if (skipName("in")) {
                ops.add(new Node.Operand("in", parseMath1()));
            } else if (t.isName("not") && look().isName("in")) {
                next();
                next();
                ops.add(new Node.Operand("notin", parseMath1()));
            } else {
                break;
            }
        }
        return ops.isEmpty() ? expr : new Node.Compare(expr, ops, line);
    }

    private Expr parseMath1() {
        int line = cur().line();
        Expr left = parseConcat();
        while (cur().isOp("+") || cur().isOp("-")) {
            String op = next().text();
            left = new Node.Binary(op, left, parseConcat(), line);
        }
        return left;
    }

    private Expr parseConcat() {
        int line = cur().line();
        List<Expr> args = new ArrayList<>();
        args.add(parseMath2());
        while (skipOp("~")) args.add(parseMath2());
        return args.size() == 1 ? args.getFirst() : new Node.Concat(args, line);
    }

    private Expr parseMath2() {
        int line = cur().line();
        Expr left = parsePow();
        while (cur().isOp("*") || cur().isOp("/") || cur().isOp("//") || cur().isOp("%")) {
            String op = next().text();
            left = new Node.Binary(op, left, parsePow(), line);
        }
        return left;
    }

    private Expr parsePow() {
        int line = cur().line();
        Expr left = parseUnary(true);
        while (skipOp("**")) left = new Node.Binary("**", left, parseUnary(true), line);
        return left;
    }

    private Expr parseUnary(boolean withFilter) {
        Token t = cur();
        Expr node;
        nest();
        try {
            if (t.isOp("-") || t.isOp("+")) {
                next();
                node = new Node.Unary(t.text(), parseUnary(false), t.line());
            } else {
                node = parsePrimary(false);
            }
            node = parsePostfix(node);
            if (withFilter) node = parseFilterExpr(node);
            return node;
        } finally {
            unnest();
        }
    }

    private Expr parsePrimary(boolean withNamespace) {
        Token t = cur();
        int line = t.line();
        switch (t.kind()) {
            case NAME -> {
                next();
                switch (t.text()) {
                    case "true", "True" -> { return new Node.Const(Boolean.TRUE, line); }
                    case "false", "False" -> { return new Node.Const(Boolean.FALSE, line); }
                    case "none", "None" -> { return new Node.Const(Py.NONE, line); }
                    default -> { }
                }
                if (withNamespace && cur().isOp(".")) {
                    next();
                    return new Node.NsRef(t.text(), expect(Kind.NAME).text(), line);
                }
                return new Node.Name(t.text(), line);
            }
            case STRING -> {
                next();
                StringBuilder s = new StringBuilder((String) t.value());
                while (cur().kind() == Kind.STRING) s.append((String) next().value());
                return new Node.Const(s.toString(), line);
            }
            case INTEGER, FLOAT -> {
                next();
                return new Node.Const(t.value(), line);
            }
            default -> { }
        }
        if (t.isOp("(")) {
            next();
            Expr e = parseTuple(false, true, null, true, false);
            expectOp(")");
            return e;
        }
        if (t.isOp("[")) return parseList();
        if (t.isOp("{")) return parseDict();
        throw fail("unexpected '" + describe(t) + "'");
    }

    private boolean isTupleEnd(Set<String> extraEnd) {
        Token t = cur();
        if (t.kind() == Kind.VARIABLE_END || t.kind() == Kind.BLOCK_END || t.isOp(")") || t.kind() == Kind.EOF) return true;
        return extraEnd != null && t.kind() == Kind.NAME && extraEnd.contains(t.text());
    }

    private Expr parseTuple(boolean simplified, boolean withCondexpr, Set<String> extraEnd, boolean explicitParens, boolean withNamespace) {
        int line = cur().line();
        List<Expr> args = new ArrayList<>();
        boolean isTuple = false;
        while (true) {
            if (!args.isEmpty()) expectOp(",");
            if (isTupleEnd(extraEnd)) break;
            args.add(simplified ? parsePrimary(withNamespace) : parseExpression(withCondexpr));
            if (cur().isOp(",")) {
                isTuple = true;
            } else {
                break;
            }
        }
        if (!isTuple) {
            if (!args.isEmpty()) return args.getFirst();
            if (!explicitParens) throw fail("Expected an expression, got '" + describe(cur()) + "'");
        }
        return new Node.TupleExpr(args, line);
    }

    private Expr parseList() {
        int line = expectOp("[").line();
        List<Expr> items = new ArrayList<>();
        while (!cur().isOp("]")) {
            if (!items.isEmpty()) expectOp(",");
            if (cur().isOp("]")) break;
            items.add(parseExpression(true));
        }
        expectOp("]");
        return new Node.ListExpr(items, line);
    }

    private Expr parseDict() {
        int line = expectOp("{").line();
        List<Expr> keys = new ArrayList<>();
        List<Expr> values = new ArrayList<>();
        while (!cur().isOp("}")) {
            if (!keys.isEmpty()) expectOp(",");
            if (cur().isOp("}")) break;
            keys.add(parseExpression(true));
            expectOp(":");
            values.add(parseExpression(true));
        }
        expectOp("}");
        return new Node.DictExpr(keys, values, line);
    }

    private Expr parsePostfix(Expr node) {
        while (true) {
            if (cur().isOp(".") || cur().isOp("[")) {
                node = parseSubscript(node);
            } else if (cur().isOp("(")) {
                node = parseCall(node);
            } else {
                return node;
            }
        }
    }

    private Expr parseFilterExpr(Expr node) {
        while (true) {
            if (cur().isOp("|")) {
                node = parseFilter(node, false);
            } else if (cur().isName("is")) {
                node = parseTest(node);
            } else if (cur().isOp("(")) {
                node = parseCall(node);
            } else {
                return node;
            }
        }
    }

    private Expr parseSubscript(Expr node) {
        Token t = next();
        if (t.isOp(".")) {
            Token attr = next();
            if (attr.kind() == Kind.NAME) return new Node.Getattr(node, attr.text(), t.line());
            if (attr.kind() != Kind.INTEGER) throw fail("expected name or number");
            return new Node.Getitem(node, new Node.Const(attr.value(), attr.line()), t.line());
        }
        List<Expr> args = new ArrayList<>();
        while (!cur().isOp("]")) {
            if (!args.isEmpty()) expectOp(",");
            args.add(parseSubscribed());
        }
        expectOp("]");
        Expr arg = args.size() == 1 ? args.getFirst() : new Node.TupleExpr(args, t.line());
        return new Node.Getitem(node, arg, t.line());
    }

    private Expr parseSubscribed() {
        int line = cur().line();
        Expr start = null;
        if (cur().isOp(":")) {
            next();
        } else {
            Expr e = parseExpression(true);
            if (!cur().isOp(":")) return e;
            next();
            start = e;
        }
        Expr stop = null;
        if (!cur().isOp(":") && !cur().isOp("]") && !cur().isOp(",")) stop = parseExpression(true);
        Expr step = null;
        if (cur().isOp(":")) {
            next();
            if (!cur().isOp("]") && !cur().isOp(",")) step = parseExpression(true);
        }
        return new Node.Slice(start, stop, step, line);
    }

    private record CallArgs(List<Expr> args, List<Node.Keyword> kwargs, Expr dynArgs, Expr dynKwargs) {}

    private CallArgs parseCallArgs() {
        expectOp("(");
        List<Expr> args = new ArrayList<>();
        List<Node.Keyword> kwargs = new ArrayList<>();
        Expr dynArgs = null;
        Expr dynKwargs = null;
        boolean requireComma = false;
        while (!cur().isOp(")")) {
            if (requireComma) {
                expectOp(",");
                if (cur().isOp(")")) break;
            }
            if (cur().isOp("*")) {
                if (dynArgs != null || dynKwargs != null) throw fail("invalid syntax for function call expression");
                next();
                dynArgs = parseExpression(true);
            } else if (cur().isOp("**")) {
                if (dynKwargs != null) throw fail("invalid syntax for function call expression");
                next();
                dynKwargs = parseExpression(true);
            } else if (cur().kind() == Kind.NAME && look().isOp("=")) {
                if (dynKwargs != null) throw fail("invalid syntax for function call expression");
                String key = next().text();
                next();
                kwargs.add(new Node.Keyword(key, parseExpression(true)));
            } else {
                if (dynArgs != null || dynKwargs != null || !kwargs.isEmpty()) throw fail("invalid syntax for function call expression");
                args.add(parseExpression(true));
            }
            requireComma = true;
        }
        expectOp(")");
        return new CallArgs(args, kwargs, dynArgs, dynKwargs);
    }

    private Expr parseCall(Expr node) {
        int line = cur().line();
        CallArgs a = parseCallArgs();
        return new Node.Call(node, a.args, a.kwargs, a.dynArgs, a.dynKwargs, line);
    }

    private Node.Filter parseFilter(Expr node, boolean startInline) {
        Node.Filter result = null;
        while (cur().isOp("|") || startInline) {
            if (!startInline) next();
            Token t = expect(Kind.NAME);
            StringBuilder name = new StringBuilder(t.text());
            while (cur().isOp(".")) {
                next();
                name.append('.').append(expect(Kind.NAME).text());
            }
            CallArgs a = cur().isOp("(") ? parseCallArgs() : new CallArgs(List.of(), List.of(), null, null);
            result = new Node.Filter(node, name.toString(), a.args, a.kwargs, a.dynArgs, a.dynKwargs, t.line());
            node = result;
            startInline = false;
        }
        return result;
    }

    private Expr parseTest(Expr node) {
        int line = next().line();
        boolean negated = skipName("not");
        StringBuilder name = new StringBuilder(expect(Kind.NAME).text());
        while (cur().isOp(".")) {
            next();
            name.append('.').append(expect(Kind.NAME).text());
        }
        List<Expr> args = List.of();
        List<Node.Keyword> kwargs = List.of();
        Token t = cur();
        if (t.isOp("(")) {
            CallArgs a = parseCallArgs();
            args = a.args;
            kwargs = a.kwargs;
        } else if ((t.kind() == Kind.NAME || t.kind() == Kind.STRING || t.kind() == Kind.INTEGER || t.kind() == Kind.FLOAT
                || t.isOp("(") || t.isOp("[") || t.isOp("{"))
                && !(t.isName("else") || t.isName("or") || t.isName("and"))) {
            if (t.isName("is")) throw fail("You cannot chain multiple tests with is");
            args = List.of(parsePostfix(parsePrimary(false)));
        }
        Expr test = new Node.Test(node, name.toString(), args, kwargs, line);
        return negated ? new Node.Not(test, line) : test;
    }
}
