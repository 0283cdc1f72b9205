package io.moeflow.api.chat.jinja;

import io.moeflow.api.chat.jinja.Node.Expr;
import io.moeflow.api.chat.jinja.Node.Stmt;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Runs a parsed template with jinja2's semantics: its scoping (a for loop's body is a new scope each iteration,
 * if is not a scope, macros see the scope they were defined in), attribute and item lookup, Undefined, loop
 * variables, macros and call blocks. Values passed in are data only: nothing a value holds is ever parsed or
 * run as template code, and a template reaches no Java object but the values given to it.
 */
final class Interpreter {
    private enum Flow { NORMAL, BREAK, CONTINUE }

    /** Variables of one scope; lookups go up to the parent. */
    static final class Scope {
        final Scope parent;
        final Map<String, Object> vars = new HashMap<>();

        Scope(Scope parent) {
            this.parent = parent;
        }

        Object lookup(String name) {
            for (Scope s = this; s != null; s = s.parent) {
                Object v = s.vars.get(name);
                if (v != null) return v;
            }
            return null;
        }
    }

    final Budget budget;
    final Environment env;
    /** Records which values the template reads (capability probing); null when not probing. */
    final Marks marks;
    private StringBuilder out = new StringBuilder();

    Interpreter(Budget budget, Environment env, Marks marks) {
        this.budget = budget;
        this.env = env;
        this.marks = marks;
    }

    String render(List<Stmt> body, Map<String, Object> context) {
        Scope globals = new Scope(null);
        globals.vars.putAll(env.globals());
        Scope root = new Scope(globals);
        root.vars.putAll(context);
        Scope template = new Scope(root);
        exec(body, template);
        return out.toString();
    }

    void write(String s) {
        budget.chars((long) out.length() + s.length());
        out.append(s);
    }

    /** Runs body with its output captured instead of written. */
    String capture(List<Stmt> body, Scope scope) {
        StringBuilder saved = out;
        out = new StringBuilder();
        try {
            exec(body, scope);
            return out.toString();
        } finally {
            out = saved;
        }
    }

    private void mark(Object v) {
        if (marks != null) marks.mark(v);
    }

    private void op(Object v, String name) {
        if (marks != null) marks.op(v, name);
    }

    // ---- statements ------------------------------------------------------------------------------------

    private Flow exec(List<Stmt> body, Scope scope) {
        for (Stmt s : body) {
            Flow f;
            try {
                f = exec(s, scope);
            } catch (TemplateException e) {
                throw e.at(s.line());
            }
            if (f != Flow.NORMAL) return f;
        }
        return Flow.NORMAL;
    }

    private Flow exec(Stmt s, Scope scope) {
        budget.step();
        switch (s) {
            case Node.Output o -> {
                for (Object part : o.parts()) {
                    write(part instanceof String text ? text : Py.str(eval((Expr) part, scope)));
                }
            }
            case Node.If n -> {
                return exec(Py.truthy(eval(n.test(), scope)) ? n.body() : n.orElse(), scope);
            }
            case Node.For n -> runFor(n, scope, eval(n.iter(), scope), 0);
            case Node.Assign n -> assign(n.target(), eval(n.value(), scope), scope);
            case Node.AssignBlock n -> {
                Object value = capture(n.body(), scope);
                if (n.filter() != null) value = applyFilterChain(n.filter(), value, scope);
                assign(n.target(), value, scope);
            }
            case Node.MacroDef n -> scope.vars.put(n.name(), new Macro(n.name(), n.params(), n.defaults(), n.body(), scope, this));
            case Node.CallBlock n -> {
                Macro caller = new Macro("caller", n.params(), n.defaults(), n.body(), scope, this);
                write(Py.str(call(n.call(), scope, caller)));
            }
            case Node.FilterBlock n -> write(Py.str(applyFilterChain(n.filter(), capture(n.body(), scope), scope)));
            case Node.With n -> {
                Scope inner = new Scope(scope);
                for (int i = 0; i < n.targets().size(); i++) {
                    assign(n.targets().get(i), eval(n.values().get(i), scope), inner);
                }
                return exec(n.body(), inner);
            }
            case Node.Break b -> {
                return Flow.BREAK;
            }
            case Node.Continue c -> {
                return Flow.CONTINUE;
            }
            case Node.Block b -> {
                return exec(b.body(), scope);
            }
        }
        return Flow.NORMAL;
    }

    /** A for loop; returns what it wrote when called recursively through loop(...). */
    private void runFor(Node.For n, Scope scope, Object iterable, int depth) {
        mark(iterable);
        op(iterable, iterable instanceof PyDict ? "object_access" : "array_access");
        List<Object> items = Py.iterate(iterable);
        if (n.test() != null) {
            List<Object> kept = new ArrayList<>();
            for (Object item : items) {
                budget.step();
                Scope probe = new Scope(scope);
                assign(n.target(), item, probe);
                if (Py.truthy(eval(n.test(), probe))) kept.add(item);
            }
            items = kept;
        }
        if (items.isEmpty()) {
            exec(n.orElse(), new Scope(scope));
            return;
        }
        for (int i = 0; i < items.size(); i++) {
            budget.step(); // also for an empty body, so that nested loops cannot outrun the deadline
            Scope inner = new Scope(scope);
            assign(n.target(), items.get(i), inner);
            inner.vars.put("loop", new Loop(items, i, depth, n.recursive() ? n : null, scope, this));
            Flow f = exec(n.body(), inner);
            if (f == Flow.BREAK) break;
        }
    }

    void assign(Expr target, Object value, Scope scope) {
        switch (target) {
            case Node.Name n -> scope.vars.put(n.name(), value);
            case Node.NsRef r -> {
                Object ns = scope.lookup(r.name());
                if (!(ns instanceof Namespace namespace)) {
                    throw TemplateException.runtime("cannot assign attribute on non-namespace object");
                }
                namespace.attributes.put(r.attr(), value);
            }
            case Node.TupleExpr t -> {
                List<Object> values = Py.iterate(value);
                if (values.size() != t.items().size()) {
                    throw TemplateException.runtime(values.size() > t.items().size()
                            ? "too many values to unpack (expected " + t.items().size() + ")"
                            : "not enough values to unpack (expected " + t.items().size() + ", got " + values.size() + ")");
                }
                for (int i = 0; i < values.size(); i++) assign(t.items().get(i), values.get(i), scope);
            }
            default -> throw TemplateException.runtime("cannot assign to " + target.getClass().getSimpleName());
        }
    }

    // ---- expressions -----------------------------------------------------------------------------------

    Object eval(Expr e, Scope scope) {
        budget.step();
        return switch (e) {
            case Node.Const c -> c.value();
            case Node.Name n -> {
                Object v = scope.lookup(n.name());
                if (v == null) yield Undefined.name(n.name());
                mark(v);
                yield v;
            }
            case Node.NsRef r -> getattr(eval(new Node.Name(r.name(), r.line()), scope), r.attr());
            case Node.TupleExpr t -> new PyList(List.copyOf(evalAll(t.items(), scope)), true);
            case Node.ListExpr l -> new PyList(evalAll(l.items(), scope), false);
            case Node.DictExpr d -> {
                PyDict dict = new PyDict();
                for (int i = 0; i < d.keys().size(); i++) {
                    Object k = eval(d.keys().get(i), scope);
                    if (k instanceof PyList l && !l.tuple || k instanceof PyDict) {
                        throw TemplateException.runtime("unhashable type: '" + Py.typeName(k) + "'");
                    }
                    dict.put(k, eval(d.values().get(i), scope));
                }
                yield dict;
            }
            case Node.Getattr g -> {
                Object obj = eval(g.node(), scope);
                Object v = getattr(obj, g.attr());
                if (marks != null) {
                    marks.mark(obj);
                    marks.mark(v);
                    marks.op(obj, "object_access");
                }
                yield v;
            }
            case Node.Getitem g -> {
                Object obj = eval(g.node(), scope);
                if (g.arg() instanceof Node.Slice s) {
                    mark(obj);
                    yield slice(obj, s, scope);
                }
                Object key = eval(g.arg(), scope);
                Object v = getitem(obj, key);
                if (marks != null) {
                    marks.mark(obj);
                    marks.mark(v);
                    marks.op(obj, Py.isInt(key) ? "array_access" : "object_access");
                }
                yield v;
            }
            case Node.Slice s -> throw TemplateException.runtime("a slice is only valid inside []");
            case Node.Call c -> call(c, scope, null);
            case Node.Filter f -> applyFilterChain(f, null, scope);
            case Node.Test t -> test(t, scope);
            case Node.Unary u -> u.op().equals("-") ? Py.neg(eval(u.node(), scope)) : Py.pos(eval(u.node(), scope));
            case Node.Not n -> !Py.truthy(eval(n.node(), scope));
            case Node.And a -> {
                Object left = eval(a.left(), scope);
                yield Py.truthy(left) ? eval(a.right(), scope) : left;
            }
            case Node.Or o -> {
                Object left = eval(o.left(), scope);
                yield Py.truthy(left) ? left : eval(o.right(), scope);
            }
            case Node.Binary b -> binary(b.op(), eval(b.left(), scope), eval(b.right(), scope));
            case Node.Concat c -> {
                StringBuilder s = new StringBuilder();
                for (Expr x : c.nodes()) {
                    s.append(Py.str(eval(x, scope)));
                    budget.chars(s.length());
                }
                yield s.toString();
            }
            case Node.Compare c -> compare(c, scope);
            case Node.CondExpr c -> {
                if (Py.truthy(eval(c.test(), scope))) yield eval(c.expr1(), scope);
                yield c.expr2() != null ? eval(c.expr2(), scope)
                        : Undefined.hint("the inline if-expression on line " + c.line() + " evaluated to false and no else section was defined.");
            }
        };
    }

    private List<Object> evalAll(List<Expr> exprs, Scope scope) {
        List<Object> values = new ArrayList<>(exprs.size());
        for (Expr x : exprs) values.add(eval(x, scope));
        budget.items(values.size());
        return values;
    }

    private Object binary(String op, Object a, Object b) {
        return switch (op) {
            case "+" -> Py.add(a, b, budget);
            case "-" -> Py.sub(a, b);
            case "*" -> Py.mul(a, b, budget);
            case "/" -> Py.truediv(a, b);
            case "//" -> Py.floordiv(a, b);
            case "%" -> Py.mod(a, b, budget);
            case "**" -> Py.pow(a, b, budget);
            default -> throw TemplateException.runtime("unknown operator " + op);
        };
    }

    private Object compare(Node.Compare c, Scope scope) {
        Object left = eval(c.expr(), scope);
        for (Node.Operand o : c.ops()) {
            Object right = eval(o.expr(), scope);
            boolean r = switch (o.op()) {
                case "==" -> Py.eq(left, right);
                case "!=" -> !Py.eq(left, right);
                case "in" -> Py.contains(right, left);
                case "notin" -> !Py.contains(right, left);
                default -> Py.compare(o.op(), left, right);
            };
            if (!r) return false;
            left = right;
        }
        return true;
    }

    /** jinja2's sandboxed getattr: the type's attributes and methods first, then the item of that name. */
    Object getattr(Object obj, String name) {
        if (obj instanceof Undefined u) throw u.error();
        Object attr = Builtins.attribute(obj, name, this);
        if (attr != null) {
            op(obj, name);
            return attr;
        }
        if (obj instanceof PyDict d) {
            Object v = d.get(name);
            if (v != null) return v;
        }
        return Undefined.attribute(obj, name);
    }

    /** jinja2's getitem: obj[key], else the attribute of that name (for string keys), else Undefined. */
    Object getitem(Object obj, Object key) {
        if (obj instanceof Undefined u) throw u.error();
        if (obj instanceof PyDict d) {
            Object v = d.get(key);
            if (v != null) return v;
        } else if (obj instanceof PyList l && Py.isInt(key)) {
            long i = Py.toLong(key);
            if (i < 0) i += l.size();
            if (i >= 0 && i < l.size()) return l.items.get((int) i);
            return Undefined.hint(Py.typeName(obj) + " index out of range");
        } else if (obj instanceof String s && Py.isInt(key)) {
            String c = PyStrings.charAt(s, Py.toLong(key));
            return c != null ? c : Undefined.hint("string index out of range");
        }
        if (key instanceof String name) {
            Object attr = Builtins.attribute(obj, name, this);
            if (attr != null) return attr;
        }
        return Undefined.attribute(obj, key);
    }

    private Object slice(Object obj, Node.Slice s, Scope scope) {
        Object start = s.start() == null ? Py.NONE : eval(s.start(), scope);
        Object stop = s.stop() == null ? Py.NONE : eval(s.stop(), scope);
        Object step = s.step() == null ? Py.NONE : eval(s.step(), scope);
        return Builtins.slice(obj, start, stop, step);
    }

    private Object call(Node.Call c, Scope scope, Macro caller) {
        Object callee = eval(c.node(), scope);
        List<Object> args = evalAll(c.args(), scope);
        Map<String, Object> kwargs = new LinkedHashMap<>();
        for (Node.Keyword k : c.kwargs()) kwargs.put(k.name(), eval(k.value(), scope));
        if (c.dynArgs() != null) args.addAll(Py.iterate(eval(c.dynArgs(), scope)));
        if (c.dynKwargs() != null) {
            Object d = eval(c.dynKwargs(), scope);
            if (!(d instanceof PyDict dict)) throw TemplateException.runtime("argument after ** must be a mapping, not " + Py.typeName(d));
            for (Map.Entry<Object, Object> e : dict.map.entrySet()) kwargs.put(Py.str(e.getKey()), e.getValue());
        }
        if (caller != null) kwargs.put("caller", caller);
        return invoke(callee, args, kwargs);
    }

    Object invoke(Object callee, List<Object> args, Map<String, Object> kwargs) {
        if (callee instanceof PyCallable f) return f.call(this, args, kwargs);
        if (callee instanceof Undefined u) throw u.error();
        throw TemplateException.runtime("'" + Py.typeName(callee) + "' object is not callable");
    }

    /** A filter chain (x|a|b): the innermost node is evaluated, or is {@code input} for blocks. */
    private Object applyFilterChain(Node.Filter f, Object input, Scope scope) {
        Object value;
        if (f.node() instanceof Node.Filter inner) {
            value = applyFilterChain(inner, input, scope);
        } else if (f.node() == null) {
            value = input;
        } else {
            value = eval(f.node(), scope);
        }
        List<Object> args = evalAll(f.args(), scope);
        Map<String, Object> kwargs = new LinkedHashMap<>();
        for (Node.Keyword k : f.kwargs()) kwargs.put(k.name(), eval(k.value(), scope));
        if (f.dynArgs() != null) args.addAll(Py.iterate(eval(f.dynArgs(), scope)));
        if (f.dynKwargs() != null && eval(f.dynKwargs(), scope) instanceof PyDict d) {
            for (Map.Entry<Object, Object> e : d.map.entrySet()) kwargs.put(Py.str(e.getKey()), e.getValue());
        }
        if (marks != null) {
            marks.mark(value);
            marks.op(value, f.name());
        }
        return Builtins.filter(f.name(), value, args, kwargs, this);
    }

    private Object test(Node.Test t, Scope scope) {
        Object value = eval(t.node(), scope);
        List<Object> args = evalAll(t.args(), scope);
        Map<String, Object> kwargs = new LinkedHashMap<>();
        for (Node.Keyword k : t.kwargs()) kwargs.put(k.name(), eval(k.value(), scope));
        return Builtins.test(t.name(), value, args, kwargs, this);
    }

    // ---- macros and loops ------------------------------------------------------------------------------

    /** A {% macro %}: called, it renders its body in a new scope under the one it was defined in. */
    record Macro(String name, List<String> params, List<Expr> defaults, List<Stmt> body, Scope closure,
                 Interpreter owner) implements PyCallable {
        @Override
        public Object call(Interpreter in, List<Object> args, Map<String, Object> kwargs) {
            in.budget.enter();
            try {
                Scope scope = new Scope(closure);
                int firstDefault = params.size() - defaults.size();
                Map<String, Object> extra = new LinkedHashMap<>(kwargs);
                Object caller = extra.remove("caller");
                for (int i = 0; i < params.size(); i++) {
                    String p = params.get(i);
                    Object v;
                    if (i < args.size()) {
                        v = args.get(i);
                        if (extra.containsKey(p)) throw TemplateException.runtime("macro '" + name + "' got multiple values for argument '" + p + "'");
                    } else if (extra.containsKey(p)) {
                        v = extra.remove(p);
                    } else if (i >= firstDefault) {
                        v = in.eval(defaults.get(i - firstDefault), scope);
                    } else {
                        v = Undefined.hint("parameter '" + p + "' was not provided");
                    }
                    scope.vars.put(p, v);
                }
                List<Object> varargs = args.size() > params.size() ? new ArrayList<>(args.subList(params.size(), args.size())) : List.of();
                scope.vars.put("varargs", new PyList(List.copyOf(varargs), true));
                PyDict kw = new PyDict();
                extra.forEach(kw::put);
                scope.vars.put("kwargs", kw);
                if (caller != null) scope.vars.put("caller", caller);
                return in.capture(body, scope);
            } finally {
                in.budget.exit();
            }
        }
    }

    /** jinja2's LoopContext: index, index0, revindex, first, last, length, previtem, nextitem, depth, cycle(). */
    record Loop(List<Object> items, int index0, int depth0, Node.For recursive, Scope scope, Interpreter owner) implements PyCallable {
        Object attribute(String name) {
            int n = items.size();
            return switch (name) {
                case "index0" -> (long) index0;
                case "index" -> index0 + 1L;
                case "revindex" -> (long) (n - index0);
                case "revindex0" -> (long) (n - index0 - 1);
                case "first" -> index0 == 0;
                case "last" -> index0 == n - 1;
                case "length" -> (long) n;
                case "depth" -> depth0 + 1L;
                case "depth0" -> (long) depth0;
                case "previtem" -> index0 > 0 ? items.get(index0 - 1) : Undefined.hint("there is no previous item");
                case "nextitem" -> index0 < n - 1 ? items.get(index0 + 1) : Undefined.hint("there is no next item");
                case "cycle" -> (PyCallable) (in, args, kwargs) -> {
                    if (args.isEmpty()) throw TemplateException.runtime("no items for cycling given");
                    return args.get(index0 % args.size());
                };
                default -> null;
            };
        }

        /** loop(items) in a recursive for: the body again for the nested items, one level deeper. */
        @Override
        public Object call(Interpreter in, List<Object> args, Map<String, Object> kwargs) {
            if (recursive == null) throw TemplateException.runtime("Tried to call non recursive loop. Maybe you forgot the 'recursive' modifier.");
            if (args.size() != 1) throw TemplateException.runtime("loop() takes exactly one argument");
            in.budget.enter();
            StringBuilder saved = in.out;
            in.out = new StringBuilder();
            try {
                in.runFor(recursive, scope, args.getFirst(), depth0 + 1);
                return in.out.toString();
            } finally {
                in.out = saved;
                in.budget.exit();
            }
        }
    }
}
