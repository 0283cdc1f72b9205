#!/usr/bin/env python3
"""Writes kernels/src/main/java/io/moeflow/kernels/IQGrids.java from ggml's ggml-common.h.

The IQ types' grids and sign tables are ggml's published constants; this copies them verbatim (same order, same
hex) and prints the SHA-256 of each table's little-endian bytes, the values IQGridsTest checks.

  python3 scripts/gen-iq-grids.py /path/to/ggml/src/ggml-common.h [SOURCE-NOTE]
"""
import hashlib
import re
import struct
import sys

# name in ggml-common.h -> (C element type, Java element type, expected length)
TABLES = [
    ("kmask_iq2xs", "uint8_t", 8),
    ("ksigns_iq2xs", "uint8_t", 128),
    ("kvalues_iq4nl", "int8_t", 16),
    ("iq2xxs_grid", "uint64_t", 256),
    ("iq2xs_grid", "uint64_t", 512),
    ("iq2s_grid", "uint64_t", 1024),
    ("iq3xxs_grid", "uint32_t", 256),
    ("iq3s_grid", "uint32_t", 512),
    ("iq1s_grid", "uint64_t", 2048),
]

JAVA = {"uint8_t": ("int", "", 16), "int8_t": ("int", "", 16), "uint32_t": ("int", "", 8), "uint64_t": ("long", "L", 4)}
PACK = {"uint8_t": "<B", "int8_t": "<b", "uint32_t": "<I", "uint64_t": "<Q"}


def parse(text, name, ctype, n):
    m = re.search(r"GGML_TABLE_BEGIN\(\s*" + re.escape(ctype) + r"\s*,\s*" + re.escape(name) + r"\s*,[^)]*\)(.*?)GGML_TABLE_END\(\)",
                  text, re.S)
    if not m:
        sys.exit(f"table {name} ({ctype}) not found")
    values = [int(tok, 0) for tok in re.findall(r"-?(?:0x[0-9a-fA-F]+|\d+)", m.group(1))]
    if len(values) != n:
        sys.exit(f"table {name}: {len(values)} values, expected {n}")
    return values


def sha256(values, ctype):
    return hashlib.sha256(b"".join(struct.pack(PACK[ctype], v) for v in values)).hexdigest()


def java_literal(v, ctype):
    if ctype in ("uint8_t", "int8_t"):
        return str(v)
    width = 16 if ctype == "uint64_t" else 8
    return "0x" + format(v, "0" + str(width) + "x") + JAVA[ctype][1]


def main():
    path = sys.argv[1]
    note = sys.argv[2] if len(sys.argv) > 2 else path
    text = open(path, encoding="utf-8").read()
    out = []
    out.append("package io.moeflow.kernels;\n")
    out.append("/**")
    out.append(" * ggml's grids and sign tables for the IQ types, copied verbatim (same order, same hex) from")
    out.append(" * ggml/src/ggml-common.h, " + note + ",")
    out.append(" * by scripts/gen-iq-grids.py; IQGridsTest checks the SHA-256 of each table. Generated: do not edit.")
    out.append(" * Each table sits in its own holder class, so a table is loaded only when its type is used.")
    out.append(" */")
    out.append("final class IQGrids {")
    out.append("    private IQGrids() {}")
    sums = []
    for name, ctype, n in TABLES:
        values = parse(text, name, ctype, n)
        jtype, _, per_line = JAVA[ctype]
        holder = "".join(p.capitalize() for p in name.split("_"))
        out.append("")
        out.append(f"    /** {name}: {n} x {ctype}. */")
        out.append(f"    static final class {holder} {{")
        out.append(f"        private {holder}() {{}}")
        out.append(f"        static final {jtype}[] TABLE = {{")
        for i in range(0, n, per_line):
            out.append("            " + ", ".join(java_literal(v, ctype) for v in values[i:i + per_line]) + ",")
        out.append("        };")
        out.append("    }")
        sums.append((name, holder, sha256(values, ctype)))
    out.append("}")
    dest = "kernels/src/main/java/io/moeflow/kernels/IQGrids.java"
    open(dest, "w", encoding="utf-8").write("\n".join(out) + "\n")
    print("wrote", dest)
    for name, holder, digest in sums:
        print(f"{name} {holder} sha256 {digest}")


if __name__ == "__main__":
    main()
