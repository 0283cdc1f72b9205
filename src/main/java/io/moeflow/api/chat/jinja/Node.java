package io.moeflow.api.chat.jinja;

import java.util.List;

/** The parsed template: jinja2's node types that chat templates use. */
final class Node {
    private Node() {}

    sealed interface Stmt permits Output, For, If, Assign, AssignBlock, MacroDef, CallBlock, FilterBlock, With, Break,
            Continue, Block {
        int line();
    }

    sealed interface Expr permits Const, Name, NsRef, TupleExpr, ListExpr, DictExpr, Getattr, Getitem, Slice, Call,
            Filter, Test, Unary, Binary, And, Or, Not, Concat, Compare, CondExpr {
        int line();
    }

    /** Template data and {{ expressions }}, in order; a String item is literal template text. */
    record Output(List<Object> parts, int line) implements Stmt {}

    record For(Expr target, Expr iter, List<Stmt> body, List<Stmt> orElse, Expr test, boolean recursive, int line) implements Stmt {}

    record If(Expr test, List<Stmt> body, List<Stmt> orElse, int line) implements Stmt {}

    record Assign(Expr target, Expr value, int line) implements Stmt {}

    /** {% set x %}...{% endset %}, optionally through filters ({@code filter} has a null innermost node). */
    record AssignBlock(Expr target, Filter filter, List<Stmt> body, int line) implements Stmt {}

    record MacroDef(String name, List<String> params, List<Expr> defaults, List<Stmt> body, int line) implements Stmt {}

    record CallBlock(Call call, List<String> params, List<Expr> defaults, List<Stmt> body, int line) implements Stmt {}

    record FilterBlock(Filter filter, List<Stmt> body, int line) implements Stmt {}

    record With(List<Expr> targets, List<Expr> values, List<Stmt> body, int line) implements Stmt {}

    record Break(int line) implements Stmt {}

    record Continue(int line) implements Stmt {}

    /** A body rendered as it is: {% generation %} (Hugging Face's assistant-mask tag). */
    record Block(List<Stmt> body, int line) implements Stmt {}

    record Const(Object value, int line) implements Expr {}

    record Name(String name, int line) implements Expr {}

    /** ns.attr as an assignment target. */
    record NsRef(String name, String attr, int line) implements Expr {}

    record TupleExpr(List<Expr> items, int line) implements Expr {}

    record ListExpr(List<Expr> items, int line) implements Expr {}

    record DictExpr(List<Expr> keys, List<Expr> values, int line) implements Expr {}

    record Getattr(Expr node, String attr, int line) implements Expr {}

    record Getitem(Expr node, Expr arg, int line) implements Expr {}

    record Slice(Expr start, Expr stop, Expr step, int line) implements Expr {}

    record Keyword(String name, Expr value) {}

    record Call(Expr node, List<Expr> args, List<Keyword> kwargs, Expr dynArgs, Expr dynKwargs, int line) implements Expr {}

    /** node|name(args); node is null for the filter of a filter block or an assign block. */
    record Filter(Expr node, String name, List<Expr> args, List<Keyword> kwargs, Expr dynArgs, Expr dynKwargs, int line) implements Expr {}

    record Test(Expr node, String name, List<Expr> args, List<Keyword> kwargs, int line) implements Expr {}

    record Unary(String op, Expr node, int line) implements Expr {}

    record Binary(String op, Expr left, Expr right, int line) implements Expr {}

    record And(Expr left, Expr right, int line) implements Expr {}

    record Or(Expr left, Expr right, int line) implements Expr {}

    record Not(Expr node, int line) implements Expr {}

    record Concat(List<Expr> nodes, int line) implements Expr {}

    record Operand(String op, Expr expr) {}

    record Compare(Expr expr, List<Operand> ops, int line) implements Expr {}

    /** expr1 if test else expr2; expr2 null gives Undefined. */
    record CondExpr(Expr test, Expr expr1, Expr expr2, int line) implements Expr {}
}
