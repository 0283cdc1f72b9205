#!/usr/bin/env python3
"""Dev tool (not run by the build): derives the expected chat-template renderings in expected.json.

    python3 derive_expected.py            # writes expected.json, checks llama-cpp-cases.json

The reference is Hugging Face's apply_chat_template, i.e. Python jinja2 with trim_blocks and lstrip_blocks,
loopcontrols, HF's `tojson` (json.dumps with ensure_ascii=False), `raise_exception`, `strftime_now` and the
`{% generation %}` tag, fed with the messages the way llama.cpp's llama-server feeds its own renderer
(common/chat.cpp and common/jinja/caps.cpp at llama.cpp 34af94cd9ab2, the project's reference revision):

- messages normalised as common_chat_msgs_parse_oaicompat + to_json_oaicompat do: `content` always a string
  ("" when null or absent; text parts joined with "\\n" when the template takes only strings), then
  `reasoning_content`, `name`, `tool_call_id` (only when non-empty), `tool_calls` as
  {type, function: {name, arguments (a JSON string)}, id};
- the template's capabilities probed as jinja::caps_get does (renders with marked values and sees which ones
  the template reads): system role, object arguments, tool calls, typed content;
- llama.cpp's workarounds: StepFun's messages are trimmed, `developer` becomes `system` (except for harmony
  templates), a first system message the template ignores is folded into the next message with "\\n", tool-call
  arguments become objects when the template reads them as objects, gpt-oss, LFM2 and MiniMax-M3 get `thinking`
  from `reasoning_content` (gpt-oss also loses `content` beside tool calls), Ministral 3 gets content blocks,
  DeepSeek-V4 gets its tool results in tool-call order;
- the context: messages, bos_token, eos_token, enable_thinking (true unless chat_template_kwargs says
  otherwise), tools (only when non-empty), datetime and date_string, the chat_template_kwargs,
  add_generation_prompt (only when true);
- a leading bos_token is cut when the vocabulary adds BOS itself, a trailing eos_token when it adds EOS.

Where HF and llama.cpp differ, this follows llama.cpp: the environment is jinja2's SandboxedEnvironment, not
ImmutableSandboxedEnvironment, because Kimi-K2's templates call list.append/pop, which llama.cpp allows and HF's
immutable sandbox refuses; `safe` gives a plain string (llama.cpp has no Markup type, so "..."|safe + s does not
HTML-escape s, which jinja2 does in functionary v3.1's template); tojson takes the generators of jinja2's map
and select as lists (llama.cpp's are lists).

"Now" is fixed (NOW below) so that strftime_now, datetime and date_string are reproducible; the Java test uses
the same instant.
"""
import copy
import functools
import datetime
import json
import os
import sys

import jinja2
import markupsafe
import types
from jinja2 import nodes
from jinja2.ext import Extension
from jinja2.sandbox import SandboxedEnvironment

HERE = os.path.dirname(os.path.abspath(__file__))
NOW = datetime.datetime(2026, 3, 14, 9, 26, 53)


class GenerationTag(Extension):
    """HF's AssistantTracker without tracking: {% generation %}...{% endgeneration %} renders its body."""
    tags = {"generation"}

    def parse(self, parser):
        lineno = next(parser.stream).lineno
        body = parser.parse_statements(["name:endgeneration"], drop_needle=True)
        return nodes.CallBlock(self.call_method("_render", []), [], [], body).set_lineno(lineno)

    def _render(self, caller):
        return caller()


class TemplateRaised(Exception):
    pass


def raise_exception(message):
    raise TemplateRaised(message)


# ---- usage marking, as llama.cpp's caps_get sees which input values a template reads -------------------

class Marks:
    def __init__(self):
        self.used = set()
        self.ops = {}

    def mark(self, value, deep=False):
        self.used.add(id(value))
        if deep:
            if isinstance(value, dict):
                for k, v in value.items():
                    self.mark(k, True)
                    self.mark(v, True)
            elif isinstance(value, list):
                for v in value:
                    self.mark(v, True)

    def op(self, value, name):
        self.ops.setdefault(id(value), set()).add(name)

    def is_used(self, value):
        return id(value) in self.used


MARKS = None


class MStr(str):
    """A string whose use is recorded (a distinct object per input value)."""

    def __getitem__(self, i):
        if MARKS is not None and not isinstance(i, slice):
            MARKS.mark(self)
            MARKS.op(self, "array_access")
        return super().__getitem__(i)

    def __iter__(self):
        if MARKS is not None:
            MARKS.mark(self)
            MARKS.op(self, "array_access")
        return super().__iter__()


class MList(list):
    def __iter__(self):
        if MARKS is not None:
            MARKS.mark(self)
            MARKS.op(self, "array_access")
        return super().__iter__()

    def __getitem__(self, i):
        v = super().__getitem__(i)
        if MARKS is not None:
            MARKS.mark(self)
            if not isinstance(i, slice):
                MARKS.mark(v)
            MARKS.op(self, "array_access")
        return v


class MDict(dict):
    def __getitem__(self, k):
        v = super().__getitem__(k)
        if MARKS is not None:
            MARKS.mark(self)
            MARKS.mark(v)
        return v

    def get(self, k, default=None):
        if MARKS is not None:
            MARKS.mark(self)
        if k in self:
            return self[k]
        return default

    def items(self):
        if MARKS is not None:
            MARKS.mark(self)
            for v in dict.values(self):
                MARKS.mark(v)
        return super().items()

    def values(self):
        if MARKS is not None:
            MARKS.mark(self)
            for v in dict.values(self):
                MARKS.mark(v)
        return super().values()

    def __iter__(self):
        if MARKS is not None:
            MARKS.mark(self)
        return super().__iter__()


def marked(value):
    if isinstance(value, dict):
        return MDict((k, marked(v)) for k, v in value.items())
    if isinstance(value, list):
        return MList(marked(v) for v in value)
    if isinstance(value, str):
        return MStr(value)
    return value


def unmarked(value):
    if isinstance(value, dict):
        return {k: unmarked(v) for k, v in dict.items(value)}
    if isinstance(value, list):
        return [unmarked(v) for v in list.__iter__(value)]
    if isinstance(value, str):
        return str(value)
    return value


def tojson(x, ensure_ascii=False, indent=None, separators=None, sort_keys=False):
    if isinstance(x, types.GeneratorType):
        x = list(x)  # jinja2's map/select give generators; llama.cpp's (and moeflow's) give lists
    if MARKS is not None:
        MARKS.mark(x, True)
    return json.dumps(unmarked(x), ensure_ascii=ensure_ascii, indent=indent, separators=separators,
                      sort_keys=sort_keys)


def string_filter(x):
    if MARKS is not None:
        MARKS.mark(x, True)
    return markupsafe.soft_str(unmarked(x) if isinstance(x, (dict, list)) else x)


def selectattr(*args, **kwargs):
    if MARKS is not None:
        MARKS.op(args[1], "selectattr")
    return jinja2.filters.do_selectattr(*args, **kwargs)


def from_json(s):
    # llama.cpp's engine has it (DeepSeek-V3.2's template uses it); jinja2 does not.
    return json.loads(s)


def environment():
    env = SandboxedEnvironment(trim_blocks=True, lstrip_blocks=True,
                               extensions=[GenerationTag, "jinja2.ext.loopcontrols"])
    env.filters["tojson"] = tojson
    env.filters["string"] = string_filter
    env.filters["selectattr"] = jinja2.pass_context(selectattr)
    env.filters["from_json"] = from_json
    # llama.cpp has no Markup type: "..."|safe + s does not HTML-escape s there (jinja2 does; functionary v3.1).
    env.filters["safe"] = markupsafe.soft_str
    env.globals["raise_exception"] = raise_exception
    env.globals["strftime_now"] = lambda fmt: NOW.strftime(fmt)
    return env


ENV = environment()


def render(source, context):
    return ENV.from_string(source).render(**context)


# ---- llama.cpp's pipeline --------------------------------------------------------------------------------

CHATML = ("{%- for message in messages -%}\n"
          "  {{- '<|im_start|>' + message.role + '\n' + message.content + '<|im_end|>\n' -}}\n"
          "{%- endfor -%}\n"
          "{%- if add_generation_prompt -%}\n"
          "  {{- '<|im_start|>assistant\n' -}}\n"
          "{%- endif -%}")

TOOL_PROBE = [{"name": "tool", "type": "function", "function": {
    "name": "tool1", "description": "Tool description", "parameters": {
        "type": "object", "properties": {"arg": {"type": "string", "description": "Arg description"}},
        "required": ["arg"]}}}]


def probe(source, messages, tools):
    """Renders with marked values (caps_try_execute); returns success, the marked messages and tools, the marks
    and the output."""
    global MARKS
    MARKS = Marks()
    m, t = marked(messages), marked(tools if tools is not None else [])
    context = {"messages": m, "tools": t, "bos_token": "", "eos_token": "", "add_generation_prompt": True}
    out = ""
    try:
        out = render(source, context)
        ok = True
    except Exception:
        ok = False
    marks = MARKS
    MARKS = None
    return ok, m, t, marks, out


def tool_call_conversation(args):
    return [
        {"role": "user", "content": "User message"},
        {"role": "assistant", "content": "", "tool_calls": [
            {"id": "call00001", "type": "function", "function": {"name": "tool1", "arguments": args}}]},
        {"role": "tool", "content": "Tool response", "tool_call_id": "call00001"},
        {"role": "assistant", "content": "The tool response was 'tool response'"},
        {"role": "user", "content": "User message"},
    ]


@functools.lru_cache(maxsize=None)
def caps(source):
    """jinja::caps_get: what the template does with typed content, system messages and tool calls."""
    c = {"string_content": True, "typed_content": False, "system_role": True, "tools": True,
         "tool_calls": True, "object_arguments": False}
    ok, m, _, marks, out = probe(source, [{"role": "user", "content": "STRING_MARKER"}], None)
    content = dict.__getitem__(list.__getitem__(m, 0), "content")
    used_as_array = bool(marks.ops.get(id(content), set()) & {"selectattr", "array_access"})
    if used_as_array:
        c["typed_content"] = True
    if not ok:
        c["string_content"] = False
    elif used_as_array and "STRING_MARKER" not in out:
        c["string_content"] = False
    ok, m, _, marks, _ = probe(source, [{"role": "system", "content": "System message"},
                                        {"role": "user", "content": "User message"}], None)
    if not marks.is_used(dict.__getitem__(list.__getitem__(m, 0), "content")):
        c["system_role"] = False
    ok, m, t, marks, _ = probe(source, tool_call_conversation({"arg": "value"}), TOOL_PROBE)
    if ok:
        name = dict.__getitem__(dict.__getitem__(list.__getitem__(t, 0), "function"), "name")
        if not marks.is_used(name):
            c["tools"] = False
        calls = dict.__getitem__(list.__getitem__(m, 1), "tool_calls")
        if not marks.is_used(calls):
            c["tool_calls"] = False
        else:
            arg = dict.__getitem__(dict.__getitem__(dict.__getitem__(list.__getitem__(calls, 0), "function"),
                                                    "arguments"), "arg")
            if marks.is_used(arg):
                c["object_arguments"] = True
    if not c["object_arguments"]:
        ok, m, t, marks, _ = probe(source, tool_call_conversation('{"arg": "value"}'), TOOL_PROBE)
        if not ok:
            c["tool_calls"] = False
            c["tools"] = False
        else:
            name = dict.__getitem__(dict.__getitem__(list.__getitem__(t, 0), "function"), "name")
            if not marks.is_used(name):
                c["tools"] = False
            if not marks.is_used(dict.__getitem__(list.__getitem__(m, 1), "tool_calls")):
                c["tool_calls"] = False
    return c


def message_json(msg, concat_parts):
    """common_chat_msgs_parse_oaicompat followed by common_chat_msg::to_json_oaicompat."""
    out = {"role": msg["role"]}
    content = msg.get("content")
    if isinstance(content, list) and content:
        if concat_parts:
            # messages_inp_normalizer::concat_content_parts: "\n" between parts, not before the first text
            text = ""
            for p in content:
                text += ("\n" if text else "") + p["text"]
            out["content"] = text
        else:
            out["content"] = [{"type": p["type"], "text": p["text"]} for p in content]
    elif isinstance(content, str) and content:
        out["content"] = content
    else:
        out["content"] = ""
    if msg.get("reasoning_content"):
        out["reasoning_content"] = msg["reasoning_content"]
    if msg.get("name"):
        out["name"] = msg["name"]
    if msg.get("tool_call_id"):
        out["tool_call_id"] = msg["tool_call_id"]
    if msg.get("tool_calls"):
        calls = []
        for call in msg["tool_calls"]:
            args = call["function"].get("arguments")
            tc = {"type": "function", "function": {
                "name": call["function"]["name"],
                "arguments": args if isinstance(args, str) else json.dumps(args, separators=(",", ":"))}}
            if call.get("id"):
                tc["id"] = call["id"]
            calls.append(tc)
        out["tool_calls"] = calls
    return out


def stepfun_trimmed(msg):
    """workaround::trim_all_content (ASCII whitespace, as std::isspace)."""
    ws = " \t\n\v\f\r"
    m = dict(msg)
    if isinstance(m.get("content"), str):
        m["content"] = m["content"].strip(ws)
    elif isinstance(m.get("content"), list):
        m["content"] = [dict(p, text=p["text"].strip(ws)) if p.get("type") == "text" else p for p in m["content"]]
    if isinstance(m.get("reasoning_content"), str):
        m["reasoning_content"] = m["reasoning_content"].strip(ws)
    return m


def deepseek_v4_sorted(messages):
    """deepseek_v4_sort_tool_results: a run of user/tool messages gets its tool results in tool-call order."""
    adjusted = list(messages)
    order = {}
    i = 0
    while i < len(adjusted):
        m = adjusted[i]
        if m["role"] == "assistant" and m.get("tool_calls"):
            order = {c["id"]: k for k, c in enumerate(m["tool_calls"]) if c.get("id")}
            i += 1
            continue
        if m["role"] not in ("user", "tool"):
            i += 1
            continue
        end = i
        positions = []
        while end < len(adjusted) and adjusted[end]["role"] in ("user", "tool"):
            if adjusted[end]["role"] == "tool":
                positions.append(end)
            end += 1
        if len(positions) > 1 and order:
            results = sorted((adjusted[p] for p in positions), key=lambda r: order.get(r.get("tool_call_id", ""), 0))
            for p, r in zip(positions, results):
                adjusted[p] = r
        i = end
    return adjusted


def tools_json(tools):
    return [{"type": "function", "function": {
        "name": t["function"]["name"],
        "description": t["function"].get("description", ""),
        "parameters": t["function"].get("parameters", {})}} for t in tools or []]


def llama_cpp_context(source, c, request, bos, eos):
    only_string = c["string_content"] and not c["typed_content"]
    only_typed = not c["string_content"] and c["typed_content"]
    messages = []
    raw_messages = request["messages"]
    if "You have access to the following functions in JSONSchema format" in source:
        raw_messages = [stepfun_trimmed(msg) for msg in raw_messages]
    for msg in raw_messages:
        m = message_json(msg, only_string)
        if only_typed and isinstance(m["content"], str):
            m["content"] = [{"type": "text", "text": m["content"]}]
        messages.append(m)
    if "<|channel|>" not in source:
        for m in messages:
            if m["role"] == "developer":
                m["role"] = "system"
    if not c["system_role"] and messages and messages[0]["role"] == "system":
        if len(messages) > 1:
            messages[1]["content"] = messages[0]["content"] + "\n" + messages[1]["content"]
        messages.pop(0)
    if c["object_arguments"]:
        for m in messages:
            for call in m.get("tool_calls", []):
                if isinstance(call["function"]["arguments"], str):
                    call["function"]["arguments"] = json.loads(call["function"]["arguments"])
    # The specialised handlers of common_chat_try_specialized_template that change the messages.
    if ("[SYSTEM_PROMPT]" in source and "[TOOL_CALLS]" in source and "[ARGS]" in source
            and "[CALL_ID]" not in source):
        adjusted = []
        for m in messages:
            if m["role"] not in ("system", "assistant"):
                adjusted.append(m)
                continue
            blocks = []
            if isinstance(m.get("reasoning_content"), str):
                blocks.append({"type": "thinking", "thinking": m["reasoning_content"]})
            if isinstance(m.get("content"), str):
                blocks.append({"type": "text", "text": m["content"]})
            elif isinstance(m.get("content"), list):
                blocks.extend(m["content"])
            m = dict(m)
            m["content"] = blocks
            m.pop("reasoning_content", None)
            adjusted.append(m)
        messages = adjusted
    elif "<|channel|>" in source:
        for m in messages:
            if isinstance(m.get("reasoning_content"), str):
                m["thinking"] = m["reasoning_content"]
                if m.get("tool_calls"):
                    m.pop("content", None)
    elif (("<|tool_list_start|>" in source and "<|tool_list_end|>" in source)
          or ("List of tools: [" in source and "<|tool_list_start|>" not in source)
          or ("]<]minimax[>[" in source and "<tool_call>" in source and "<invoke name=" in source)):
        # LFM2 / LFM2.5 and MiniMax-M3 handlers: reasoning in the "thinking" field
        for m in messages:
            if isinstance(m.get("reasoning_content"), str):
                m["thinking"] = m["reasoning_content"]
    elif ("dsml_token" in source and "DSML" in source and ("function_calls" in source or "tool_calls" in source)
          and "function_calls" not in source):
        messages = deepseek_v4_sorted(messages)
    kwargs = request.get("chat_template_kwargs", {})
    context = {"messages": messages, "bos_token": bos, "eos_token": eos,
               "enable_thinking": kwargs.get("enable_thinking", True)}
    tools = tools_json(request.get("tools"))
    if tools:
        context["tools"] = tools
    context["datetime"] = NOW.strftime("%b %d %Y")
    context["date_string"] = NOW.strftime("%d %b %Y")
    context.update(kwargs)
    if request.get("add_generation_prompt", True):
        context["add_generation_prompt"] = True
    return context


def llama_cpp_render(source, request, bos, eos, add_bos=False, add_eos=False):
    """The prompt llama-server gives the model for `request`, or raises."""
    if not source:
        source = CHATML
    c = dict(caps(source))
    context = llama_cpp_context(source, c, request, bos, eos)
    prompt = render(source, copy.deepcopy(context))
    if add_bos and bos and prompt.startswith(bos):
        prompt = prompt[len(bos):]
    if add_eos and eos and prompt.endswith(eos):
        prompt = prompt[:-len(eos)]
    return prompt


def outcome(source, request, bos, eos, add_bos=False, add_eos=False):
    try:
        return {"prompt": llama_cpp_render(source, request, bos, eos, add_bos, add_eos)}
    except TemplateRaised as e:
        return {"raised": str(e)}
    except Exception as e:  # a template error other than raise_exception
        return {"error": f"{type(e).__name__}: {e}"}


def load(name):
    with open(os.path.join(HERE, name), encoding="utf-8") as f:
        return json.load(f)


def check_llama_cpp_cases():
    """Our emulation of llama.cpp's pipeline must reproduce llama.cpp's own expectations."""
    cases = load("llama-cpp-cases.json")["cases"]
    same = 0
    for case in cases:
        got = outcome(case["template"], {"messages": case["messages"]}, case["bos_token"], case["eos_token"])
        if got.get("prompt") == case["expected"]:
            same += 1
        else:
            print(f"llama.cpp case differs: {case['name']}: {got}", file=sys.stderr)
    print(f"llama-cpp-cases.json: jinja2 + llama.cpp pipeline gives llama.cpp's expectation in {same} of {len(cases)}",
          file=sys.stderr)


def main():
    check_llama_cpp_cases()
    templates = load("templates.json")["templates"]
    conversations = load("conversations.json")["conversations"]
    results = []
    counts = {}
    for t in templates:
        with open(os.path.join(HERE, "templates", t["file"]), encoding="utf-8") as f:
            source = f.read()
        for conv in conversations:
            got = outcome(source, conv["request"], t["bos_token"], t["eos_token"], t.get("add_bos", False),
                          t.get("add_eos", False))
            kind = next(iter(got))
            counts[kind] = counts.get(kind, 0) + 1
            results.append({"template": t["file"], "conversation": conv["name"], **got})
    with open(os.path.join(HERE, "expected.json"), "w", encoding="utf-8") as f:
        json.dump({"now": NOW.isoformat(), "jinja2": jinja2.__version__, "cases": results}, f,
                  ensure_ascii=False, indent=1)
        f.write("\n")
    print(f"expected.json: {len(results)} cases {counts}", file=sys.stderr)


if __name__ == "__main__":
    main()
