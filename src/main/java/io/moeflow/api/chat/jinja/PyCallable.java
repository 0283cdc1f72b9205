package io.moeflow.api.chat.jinja;

import java.util.List;
import java.util.Map;

/** Something a template can call: a macro, a global function, a bound method. */
interface PyCallable {
    Object call(Interpreter interpreter, List<Object> args, Map<String, Object> kwargs);
}
