#!/usr/bin/env bash
# The experts-on-disk table of docs/BENCHMARKS.md: tokens/s, hit rate, bytes read per token, I/O wait and RSS at
# budgets of 100/50/25/10 % of the expert bytes, 1 and 16 streams, LFU (and LRU at 25/10 %), each run in its own
# process with the page cache dropped first (needs root for that; without it the runs start warm and say so).
# Usage: scripts/bench-experts.sh MODEL.gguf [outdir]    (default outdir target/bench-experts)
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
model="${1:?usage: scripts/bench-experts.sh MODEL.gguf [outdir]}"
out="${2:-$root/target/bench-experts}"
threads="${THREADS:-2}"
mkdir -p "$out"
cd "$root"

drop_caches() {
  sync
  if ! { echo 3 > /proc/sys/vm/drop_caches; } 2> /dev/null; then
    echo "bench-experts: cannot drop the page cache (not root): this run starts warm" >&2
  fi
}

run() { # name, then bench options
  local name="$1"
  shift
  drop_caches
  echo "bench-experts: $name" >&2
  ./moeflow bench --model "$model" --threads "$threads" --prompt-tokens 16 --gen-tokens 32 --json "$@" \
    > "$out/$name.json" 2> "$out/$name.log"
  grep -h "RSS" "$out/$name.log" | tail -1 >&2
}

echo "# $(date -u +%Y-%m-%dT%H:%MZ) $(nproc) cores, model $model, $threads threads" >&2
for streams in 1 16; do
  run "resident-c$streams" --concurrency "$streams"
  for budget in 100 50 25 10; do
    run "lfu-$budget-c$streams" --concurrency "$streams" --expert-cache "$budget%" --expert-policy lfu
  done
  for budget in 25 10; do
    run "lru-$budget-c$streams" --concurrency "$streams" --expert-cache "$budget%" --expert-policy lru
  done
done
echo "bench-experts: results in $out" >&2
