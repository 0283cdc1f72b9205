package io.moeflow.api.chat.jinja;

import java.time.LocalDateTime;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.Supplier;

/**
 * The globals every render sees, as Hugging Face's apply_chat_template defines them: jinja2's range, dict,
 * namespace, cycler and joiner, plus raise_exception(message) and strftime_now(format) (local time from
 * {@code now}).
 */
final class Environment {
    private final Map<String, Object> globals = new LinkedHashMap<>();

    Environment(Supplier<LocalDateTime> now) {
        globals.put("range", (PyCallable) (in, args, kwargs) -> Builtins.range(args, in.budget));
        globals.put("dict", (PyCallable) (in, args, kwargs) -> Builtins.dict(args, kwargs));
        globals.put("namespace", (PyCallable) (in, args, kwargs) -> Builtins.namespace(args, kwargs));
        globals.put("cycler", (PyCallable) (in, args, kwargs) -> Builtins.cycler(args));
        globals.put("joiner", (PyCallable) (in, args, kwargs) -> Builtins.joiner(args, kwargs));
        globals.put("raise_exception", (PyCallable) (in, args, kwargs) -> {
            throw TemplateException.raised(args.isEmpty() ? "" : Py.str(args.getFirst()));
        });
        globals.put("strftime_now", (PyCallable) (in, args, kwargs) -> {
            if (args.size() != 1 || !(args.getFirst() instanceof String format)) {
                throw TemplateException.runtime("strftime_now() takes one format string");
            }
            return Strftime.format(format, now.get());
        });
    }

    Map<String, Object> globals() {
        return globals;
    }

    static List<String> names() {
        return List.of("range", "dict", "namespace", "cycler", "joiner", "raise_exception", "strftime_now");
    }
}
