#!/usr/bin/env bash
# Writes the benchmark models (if missing) and runs the end-to-end benchmarks of docs/BENCHMARKS.md.
# Usage: scripts/bench-all.sh [outdir]   (default models/bench; the models take ~4 GB)
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
out="${1:-$root/models/bench}"
mkdir -p "$out"
cd "$root"
for preset in bench-qwen3moe bench-llama-dense; do
  for type in Q8_0 Q4_K_M; do
    f="$out/$preset-$type.gguf"
    [ -f "$f" ] || ./moeflow synth --preset "$preset" --type "$type" --out "$f"
  done
done
echo "# $(date -u +%Y-%m-%dT%H:%MZ) $(nproc) cores, $(uname -m)"
for preset in bench-qwen3moe bench-llama-dense; do
  for type in Q8_0 Q4_K_M; do
    ./moeflow bench --model "$out/$preset-$type.gguf" --threads 2 --prompt-tokens 64 --gen-tokens 32 --repeat 5 --json
  done
done
for type in Q8_0 Q4_K_M; do
  ./moeflow bench --model "$out/bench-qwen3moe-$type.gguf" --threads 2 --concurrency 1,2,4,8,16,32 --prompt-tokens 16 --gen-tokens 32
done
