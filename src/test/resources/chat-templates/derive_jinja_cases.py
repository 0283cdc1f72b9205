#!/usr/bin/env python3
"""Dev tool (not run by the build): renders small templates with Python's jinja2 in Hugging Face's chat-template
environment and writes jinja-cases.json, the interpreter-level expectations of JinjaTemplateTest.

    python3 derive_jinja_cases.py

Each case is a template, rendered with CONTEXT, and either its output or "error" (jinja2 raised; the Java test
only checks that moeflow fails too). The environment is derive_expected.py's (trim_blocks, lstrip_blocks,
loopcontrols, HF's tojson, raise_exception, strftime_now at a fixed time, {% generation %}).
"""
import json
import os

import derive_expected as d

HERE = os.path.dirname(os.path.abspath(__file__))

CONTEXT = {
    "s": "Hello World",
    "sp": "  padded\t\n",
    "uni": "é😀ß\u2028x",
    "n": 7,
    "f": 2.5,
    "big": 12345678901234567890,
    "neg": -7,
    "t": True,
    "none": None,
    "items": [3, 1, 2],
    "words": ["b", "A", "c", "a"],
    "msgs": [
        {"role": "system", "content": "sys"},
        {"role": "user", "content": "hi", "name": "bob"},
        {"role": "assistant", "content": "yo", "tool_calls": [{"function": {"name": "f", "arguments": {"x": 1, "y": [1, 2]}}}]},
    ],
    "d": {"b": 1, "a": 2, "items": "key named items", "nested": {"k": [1, {"z": None}]}},
    "empty": "",
    "el": [],
    "q": "it's \"quoted\"",
}

CASES = [
    # whitespace control, trim_blocks, lstrip_blocks, comments, raw
    "a\n  {%- if t %}X{% endif %}\nb",
    "a\n  {% if t %}\n    X\n  {% endif %}\nb",
    "a  {%+ if t %}X{% endif %}  b",
    "{% if t -%}   \n  X  {%- endif %}|",
    "{{- s -}}  \n {{ s }}\n",
    "x {# c #} y\n{# c2 #}\nz",
    "  {#- c -#}  z",
    "a\n    {# indented comment #}\nb",
    "{% raw %}{{ not evaluated }}{% endraw %}",
    "a {%- raw -%}  {{ x }}  {%- endraw -%} b",
    "{% raw %}\nline{% endraw %}\n",
    "line1\r\nline2\rline3\n",
    "trailing newline\n",
    "two trailing\n\n",
    "{% for i in items %}\n  {{ i }}\n{% endfor %}",
    "{%- for i in items -%}\n  {{ i }}\n{%- endfor -%}",
    "{{ '{{' }} {{ '}}' }} {{ {'a': {'b': 1}} }}",
    "{{ 'a' }}{{- ' b' }}",
    # literals, strings, escapes
    "{{ 'single' }} {{ \"double\" }} {{ 'a' 'b' }} {{ '\\n\\t\\\\\\x41\\u00e9\\U0001F600\\'' }}",
    "{{ 0x1F }} {{ 0o17 }} {{ 0b101 }} {{ 1_000 }} {{ 1.5e3 }} {{ 1E-2 }} {{ 0.5 if false else 'x' }} {{ 007 }}",
    "{{ .5 }}",
    "{{ true }} {{ True }} {{ none }} {{ None }} {{ false }}",
    # arithmetic and operators
    "{{ 7 // 2 }} {{ -7 // 2 }} {{ 7 % 3 }} {{ -7 % 3 }} {{ 7 % -3 }} {{ 7 / 2 }} {{ 4 / 2 }} {{ 2 ** 10 }} {{ 2 ** -1 }} {{ -2 ** 2 }}",
    "{{ 1 + 2 * 3 }} {{ (1 + 2) * 3 }} {{ 'a' ~ 1 ~ none }} {{ 'ab' * 3 }} {{ [1] * 3 }} {{ [1] + [2] }}",
    "{{ 7.5 // 2 }} {{ -7.5 % 2 }} {{ 0.1 + 0.2 }} {{ 1e16 }} {{ 1e15 }} {{ 1e-5 }} {{ 0.0001 }} {{ 100.0 }} {{ -0.0 }} {{ 3.0 * 2 }}",
    "{{ big * 10 }} {{ big + 1 }} {{ 2 ** 100 }} {{ -big }} {{ big // 7 }} {{ big % 1000 }}",
    "{{ n > 3 and n < 10 }} {{ 1 < 2 < 3 }} {{ 3 < 2 < 4 }} {{ none or 'x' }} {{ 0 and 'x' }} {{ 'a' or 'b' }} {{ not empty }}",
    "{{ 'a' in 'cat' }} {{ 2 in items }} {{ 'b' in d }} {{ 'z' not in d }} {{ 1 == 1.0 }} {{ true == 1 }} {{ [1, 2] == [1, 2] }} {{ (1, 2) == [1, 2] }}",
    "{{ 'b' > 'a' }} {{ 'B' < 'a' }} {{ [1, 2] < [1, 3] }} {{ (1, 2) <= (1, 2) }} {{ 'é' > 'z' }}",
    "{{ 1 < 'a' }}",
    "{{ 'a' + 1 }}",
    "{{ 1 / 0 }}",
    "{{ s if n > 100 }}|{{ 'y' if n > 1 else 'n' }}",
    # str(), repr()
    "{{ items }} {{ msgs[1] }} {{ (1,) }} {{ (1, 'a') }} {{ () }} {{ d.nested }} {{ [none, true, 1.5, 'x'] }}",
    "{{ [q] }} {{ ['a\\nb', 'tab\\t', 'é', 'x\\u2028', '\\x00'] }} {{ {'k': \"'\"} }}",
    "{{ f }} {{ 1/3 }} {{ 2.0 }} {{ 1e100 }} {{ 123456789.125 }}",
    # variables, attributes, items, undefined
    "{{ msgs[0].role }} {{ msgs[0]['content'] }} {{ msgs[-1].role }} {{ msgs[5] }}|{{ d.b }} {{ d['a'] }} {{ d['items'] }}",
    "{{ missing }}|{{ missing is defined }}|{{ missing | length }}|{{ missing ~ 'x' }}|{{ d.nope is defined }}|{{ missing is iterable }}",
    "{{ missing.attr }}",
    "{{ d.nope.deeper }}",
    "{{ none.x }}|{{ none['x'] }}|{{ 5.x }}",
    "{{ s[0] }} {{ s[-1] }} {{ s[1:4] }} {{ s[::-1] }} {{ s[::2] }} {{ items[1:] }} {{ items[:-1] }} {{ items[5:] }} {{ uni[1] }} {{ uni[::-1] }}",
    "{{ items[n - 6:] }} {{ s[:n] }} {{ items[::-1] }} {{ items[-100:100] }} {{ s[100:] }}|{{ items[1:n:2] }}",
    "{{ items[1.5:] }}",
    "{{ d[1:2] }}",
    "{{ missing[1:2] }}",
    "{{ items[0:3:0] }}",
    # statements: if, for, set, namespace, scoping
    "{% if n > 10 %}a{% elif n > 5 %}b{% elif n > 1 %}c{% else %}d{% endif %}",
    "{% for x in items %}{{ loop.index }}{{ loop.index0 }}{{ loop.revindex }}{{ loop.revindex0 }}{{ loop.first }}{{ loop.last }}{{ loop.length }};{% endfor %}",
    "{% for x in items %}{{ loop.previtem }}-{{ x }}-{{ loop.nextitem }};{% endfor %}",
    "{% for x in items if x > 1 %}{{ x }}{{ loop.index }}{% else %}none{% endfor %}|{% for x in el %}{{ x }}{% else %}empty{% endfor %}",
    "{% for k, v in d.items() %}{{ k }}={{ v }};{% endfor %}|{% for k in d %}{{ k }}{% endfor %}|{% for c in 'abc' %}{{ c }}{% endfor %}",
    "{% for x in items %}{% if x == 1 %}{% continue %}{% endif %}{% if x == 2 %}{% break %}{% endif %}{{ x }}{% endfor %}",
    "{% for x in items %}{{ loop.cycle('odd', 'even') }}{% endfor %}",
    "{% set x = 5 %}{% for i in items %}[{{ x }}]{% set x = i %}{% endfor %}{{ x }}",
    "{% for i in items %}[{{ y }}]{% set y = i %}{% endfor %}|{{ y }}",
    "{% set x = 5 %}{% if t %}{% set x = 6 %}{% endif %}{{ x }}",
    "{% set ns = namespace(x=0, found=false) %}{% for i in items %}{% set ns.x = ns.x + i %}{% endfor %}{{ ns.x }}{{ ns.found }}",
    "{% set ns = namespace(x=msgs|length - 1) %}{{ ns.x }} {% set ns.y = 'new' %}{{ ns.y }} {{ ns }}",
    "{% set a, b = 1, 2 %}{{ a }}{{ b }} {% set c, e = items[:2] %}{{ c }}{{ e }}",
    "{% set block %}inner {{ n }}{% endset %}[{{ block }}] {% set up | upper %}shout{% endset %}{{ up }}",
    "{% with a = 1, b = 2 %}{{ a + b }}{% endwith %}{{ a }}",
    "{% set x = 1 %}{% set x = x + 1 %}{{ x }}",
    "{% set ns = namespace(l=[]) %}{% for i in items %}{% set _ = ns.l.append(i * 2) %}{% endfor %}{{ ns.l }} {{ ns.l.pop() }} {{ ns.l.pop(0) }} {{ ns.l }}",
    # macros and call blocks
    "{% macro m(a, b=2, c='c') %}{{ a }}-{{ b }}-{{ c }}{% endmacro %}{{ m(1) }} {{ m(1, 3) }} {{ m(1, c='z') }} {{ m(b=4, a=0) }}",
    "{% macro m(a) %}{{ a }}|{{ varargs }}|{{ kwargs }}{% endmacro %}{{ m(1, 2, 3, k='v') }}",
    "{% macro m() %}{{ y }}{% endmacro %}{% set y = 3 %}{{ m() }}",
    "{% macro rec(n) %}{{ n }}{% if n > 0 %}{{ rec(n - 1) }}{% endif %}{% endmacro %}{{ rec(5) }}",
    "{% macro wrap() %}<{{ caller() }}>{% endmacro %}{% call wrap() %}body {{ n }}{% endcall %}",
    "{% macro m(x) -%}\n  [{{ x }}]\n{%- endmacro %}\n{{- m(1) }}\n{{ m(2) }}",
    "{% macro m(a) %}{{ a }}{% endmacro %}{{ m() }}|",
    # filters
    "{{ s|length }} {{ items|length }} {{ d|length }} {{ uni|length }} {{ s|count }} {{ s|upper }} {{ s|lower }} {{ 'hello world'|title }} {{ 'hELLO'|capitalize }}",
    "{{ sp|trim }}|{{ 'xxhixx'|trim('x') }}|{{ sp|trim|length }}|{{ 5|string }}|{{ none|string }}|{{ items|string }}|{{ d|tojson }}",
    "{{ missing|default('dflt') }} {{ empty|default('dflt') }} {{ empty|default('dflt', true) }} {{ none|default('x') }} {{ missing|d('y') }}",
    "{{ items|join(', ') }} {{ words|join }} {{ msgs|join('|', attribute='role') }} {{ [1, none, 'a']|join('-') }}",
    "{{ s|replace('o', '0') }} {{ s|replace('l', 'L', 2) }} {{ 'abc'|replace('', '-') }}",
    "{{ items|first }} {{ items|last }} {{ 'abc'|first }} {{ el|first }}|{{ d|first }}",
    "{{ items|list }} {{ 'ab'|list }} {{ d|list }} {{ items|reverse|list }} {{ s|reverse }}",
    "{{ items|sort }} {{ words|sort }} {{ words|sort(case_sensitive=true) }} {{ words|sort(reverse=true) }} {{ msgs|sort(attribute='role')|map(attribute='role')|list }}",
    "{{ d|dictsort }} {{ {'b': 1, 'A': 2, 'a': 3}|dictsort }} {{ {'x': 2, 'y': 1}|dictsort(by='value') }} {{ d|items|list }}",
    "{{ [1, 2, 2, 3, 1]|unique|list }} {{ words|unique|list }} {{ items|min }} {{ items|max }} {{ words|max }} {{ items|sum }} {{ [[1], [2]]|sum(start=[]) }}",
    "{{ msgs|map(attribute='role')|list }} {{ items|map('string')|list }} {{ msgs|map(attribute='name', default='anon')|list }} {{ words|map('upper')|join }}",
    "{{ msgs|selectattr('role', 'equalto', 'user')|list|length }} {{ msgs|rejectattr('role', 'eq', 'user')|map(attribute='role')|join(',') }} {{ msgs|selectattr('name')|list|length }}",
    "{{ items|select('odd')|list }} {{ items|reject('odd')|list }} {{ [0, 1, '', 'a', none]|select|list }} {{ items|select('gt', 1)|list }}",
    "{{ '42'|int }} {{ '42.7'|int }} {{ 'x'|int }} {{ 'x'|int(5) }} {{ 3.9|int }} {{ '0x1A'|int(0, 16) }} {{ ' 12 '|int }} {{ '3.5'|float }} {{ 'x'|float }} {{ 7|float }}",
    "{{ 2.5|round }} {{ 3.5|round }} {{ 2.675|round(2) }} {{ 2.1|round(method='ceil') }} {{ 2.9|round(method='floor') }} {{ 7|round }} {{ -3|abs }} {{ -2.5|abs }}",
    "{{ 'a\\nb\\n\\nc'|indent }}|{{ 'a\\nb'|indent(2, true) }}|{{ 'a\\n\\nb'|indent(first=true, blank=true) }}|{{ 'x\\ny'|indent('> ') }}",
    "{{ 'abc'|center(9) }}|{{ 'abcd'|center(9) }}|{{ 'one two three'|wordcount }}|{{ 'a long sentence here'|truncate(12) }}|{{ 'a long sentence here'|truncate(12, true) }}",
    "{{ '%s and %d'|format('x', 3) }} {{ '%05.1f|%-4s|%x|%r'|format(3.14159, 'ab', 255, 'q') }} {{ '%(a)s'|format(a=1) }} {{ '%s' % 'x' }} {{ '%s-%s' % (1, 2) }}",
    "{{ '<a href=\"x\">&\\''|e }} {{ 'x'|safe }} {{ items|pprint }} {{ 5|attr('x') }}|{{ items|batch(2)|list }}",
    "{{ s|nosuchfilter }}",
    "{{ d|items|list }} {{ missing|items|list }}",
    "{{ 5|items|list }}",
    # tojson
    "{{ msgs|tojson }}",
    "{{ d|tojson(indent=2) }}",
    "{{ d|tojson(sort_keys=true) }} {{ uni|tojson }} {{ uni|tojson(ensure_ascii=true) }} {{ [1.0, 1e20, none, true]|tojson }}",
    "{{ {'a': [1, 2]}|tojson(separators=(',', ':')) }} {{ d|tojson(indent='\\t') }} {{ []|tojson(indent=2) }} {{ {}|tojson(indent=2) }} {{ 'q\"\\\\\\n'|tojson }}",
    "{{ {1: 'int key', none: 'n'}|tojson }}",
    "{{ missing|tojson }}",
    # tests
    "{{ n is odd }} {{ n is even }} {{ n is divisibleby 7 }} {{ n is number }} {{ f is float }} {{ n is integer }} {{ t is boolean }} {{ t is number }} {{ t is true }}",
    "{{ s is string }} {{ items is sequence }} {{ d is mapping }} {{ d is sequence }} {{ s is iterable }} {{ n is iterable }} {{ none is none }} {{ m is callable }} {{ range is callable }}",
    "{{ 'abc' is lower }} {{ 'ABC' is upper }} {{ n is eq 7 }} {{ n is equalto 7 }} {{ n is ne 7 }} {{ n is gt 3 }} {{ n is lt 3 }} {{ 2 is in items }} {{ n is ge 7 }} {{ n is le 6 }}",
    "{{ n is not none }} {{ missing is undefined }} {{ msgs[0] is defined and msgs[0].role == 'system' }} {{ not msgs[0].nope is defined }}",
    "{{ n is nosuchtest }}",
    # string methods
    "{{ s.upper() }} {{ s.lower() }} {{ s.startswith('Hell') }} {{ s.endswith(('x', 'ld')) }} {{ s.startswith('World', 6) }} {{ s.split() }} {{ s.split('o') }} {{ s.split('o', 1) }} {{ s.rsplit('o', 1) }}",
    "{{ sp.strip() }}|{{ sp.lstrip() }}|{{ sp.rstrip() }}|{{ 'xxaxx'.strip('x') }}|{{ 'abcab'.lstrip('ab') }}|{{ '  a  b  '.split() }}|{{ 'a\\nb\\r\\nc'.splitlines() }}",
    "{{ s.find('o') }} {{ s.rfind('o') }} {{ s.find('z') }} {{ s.count('l') }} {{ s.index('W') }} {{ s.replace('l', '_') }} {{ s.replace('l', '_', 1) }} {{ ','.join(words) }}",
    "{{ s.title() }} {{ 'hELLO wORLD'.capitalize() }} {{ 'Hello'.swapcase() }} {{ '42'.isdigit() }} {{ 'ab'.isalpha() }} {{ 'a1'.isalnum() }} {{ '  '.isspace() }} {{ 'abc'.islower() }} {{ 'ABC'.isupper() }}",
    "{{ '7'.zfill(3) }} {{ '-7'.zfill(4) }} {{ 'ab'.center(6, '*') }} {{ 'ab'.ljust(4, '.') }} {{ 'ab'.rjust(4) }} {{ 'a=b=c'.partition('=') }} {{ 'a=b=c'.rpartition('=') }} {{ 'pre_x'.removeprefix('pre_') }}",
    "{{ uni.upper() }} {{ 'ß'.upper() }} {{ uni.split('\\u2028') }} {{ uni.strip('x') }}",
    "{{ s.nosuchmethod() }}",
    "{{ 'a,b'.split('') }}",
    # dict and list methods
    "{{ d.get('a') }} {{ d.get('zz') }} {{ d.get('zz', 'dflt') }} {{ d.keys()|list }} {{ d.values()|list|length }} {{ d.items()|list|first }} {{ msgs[1].get('name') }} {{ msgs[0].get('name') is none }}",
    "{{ items.index(2) }} {{ items.count(3) }} {{ (1, 2).index(2) }}",
    # globals
    "{{ range(5)|list }} {{ range(2, 8, 3)|list }} {{ range(5, 0, -2)|list }} {{ range(0)|list }} {{ dict(a=1, b=2) }} {{ dict([('x', 1)]) }}",
    "{% set c = cycler('a', 'b') %}{{ c.next() }}{{ c.next() }}{{ c.next() }}{{ c.current }} {% set j = joiner('|') %}{{ j() }}x{{ j() }}y{{ j() }}z",
    "{{ strftime_now('%Y-%m-%d %H:%M:%S %a %A %b %B %d %j %p %I %y') }} {{ strftime_now('%-d %e') }}",
    "{{ raise_exception('custom ' ~ n) }}",
    "{{ range(200000)|length }}",
    "{{ range(3, 0)|list }} {{ range(0, 10, 0) }}",
    "{% generation %}gen {{ n }}{% endgeneration %}",
    "{% filter upper %}abc {{ s }}{% endfilter %}|{% filter replace('a', 'b')|upper %}aaa{% endfilter %}",
    "{% for x in [[1, [2]], [3]] recursive %}[{{ x if x is number else loop(x) }}]{% endfor %}",
    "{% print n, s %}",
    # syntax errors
    "{% if %}",
    "{% for x in items %}",
    "{{ ) }}",
    "{% endfor %}",
    "{% include 'x.jinja' %}",
    "{% nosuchtag %}",
    "{{ 'unterminated }}",
    "{# unterminated",
    "{{ items[ }}",
]


def main():
    results = []
    counts = {"output": 0, "error": 0}
    for source in CASES:
        try:
            out = d.render(source, json.loads(json.dumps(CONTEXT)))
            results.append({"template": source, "output": out})
            counts["output"] += 1
        except Exception as e:
            results.append({"template": source, "error": f"{type(e).__name__}: {e}"})
            counts["error"] += 1
    with open(os.path.join(HERE, "jinja-cases.json"), "w", encoding="utf-8") as f:
        json.dump({"jinja2": d.jinja2.__version__, "now": d.NOW.isoformat(), "context": CONTEXT, "cases": results}, f,
                  ensure_ascii=False, indent=1)
        f.write("\n")
    print(f"jinja-cases.json: {len(results)} cases {counts}")


if __name__ == "__main__":
    main()
