#!/usr/bin/env python3
"""Dev tool (not run by the build): extracts the chat-template test cases of llama.cpp's
tests/test-chat-template.cpp into llama-cpp-cases.json, so that the Java tests can hold moeflow's renderer
to llama.cpp's own expectations.

    python3 extract_llama_cpp_cases.py path/to/llama.cpp/tests/test-chat-template.cpp > llama-cpp-cases.json

Each case: the template, the bos/eos tokens, the conversation (llama.cpp's fixed six messages plus the case's
extra ones) and `expected`, the output llama.cpp asserts for its Jinja path (`expected_output_jinja`, or
`expected_output` when that is empty). Cases marked `supported_with_jinja = false` are skipped, as llama.cpp
skips them.
"""
import json
import re
import sys

STRING = re.compile(r'(?:U8C\()?(?:u8)?"((?:[^"\\]|\\.)*)"\)?', re.S)
ESCAPES = {'n': '\n', 't': '\t', 'r': '\r', '"': '"', "'": "'", '\\': '\\', '0': '\0'}


def c_string(body):
    out, i = [], 0
    while i < len(body):
        c = body[i]
        if c == '\\':
            out.append(ESCAPES[body[i + 1]])
            i += 2
        else:
            out.append(c)
            i += 1
    return ''.join(out)


def literal_at(text, pos):
    """The C string literal (possibly several concatenated ones) starting at pos, and the end position."""
    parts = []
    while True:
        m = re.compile(r'\s*').match(text, pos)
        pos = m.end()
        m = STRING.match(text, pos)
        if not m:
            return ''.join(parts), pos
        parts.append(c_string(m.group(1)))
        pos = m.end()


def main(path):
    src = open(path, encoding='utf-8').read()
    conversation = [
        {"role": "system", "content": "You are a helpful assistant"},
        {"role": "user", "content": "Hello"},
        {"role": "assistant", "content": "Hi there"},
        {"role": "user", "content": "Who are you"},
        {"role": "assistant", "content": "   I am an assistant   "},
        {"role": "user", "content": "Another question"},
    ]
    body = src[src.index('std::vector<TestCase> test_cases {'):]
    body = body[:body.index('std::vector<char> formatted_chat')]
    cases = []
    for chunk in re.split(r'\n        \},?\n        \{', body):
        fields = {}
        for m in re.finditer(r'/\* \.(\w+)\s*=?\s*\*/', chunk):
            name = m.group(1)
            if name == 'extra_conversation':
                extra = re.findall(r'\{"(\w+)", "((?:[^"\\]|\\.)*)"\}', chunk[m.end():])
                fields[name] = [{"role": r, "content": c_string(c)} for r, c in extra]
            elif name == 'supported_with_jinja':
                fields[name] = chunk[m.end():].lstrip().startswith('true')
            else:
                fields[name] = literal_at(chunk, m.end())[0]
        if 'template_str' not in fields:
            continue
        if fields.get('supported_with_jinja', True) is False:
            continue
        cases.append({
            "name": fields['name'],
            "template": fields['template_str'],
            "bos_token": fields.get('bos_token', ''),
            "eos_token": fields.get('eos_token', ''),
            "messages": conversation + fields.get('extra_conversation', []),
            "expected": fields.get('expected_output_jinja') or fields['expected_output'],
        })
    json.dump({"source": "llama.cpp tests/test-chat-template.cpp", "cases": cases}, sys.stdout,
              ensure_ascii=False, indent=1)
    sys.stdout.write('\n')


if __name__ == '__main__':
    main(sys.argv[1])
