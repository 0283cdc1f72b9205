#!/usr/bin/env bash
# The service against the engine alone (docs/BENCHMARKS.md, "Service"): first `moeflow loadgen --via engine` runs
# the same closed loop on the engine in its own process (no HTTP, Kafka or broker), then `moeflow serve` starts with an embedded Kafka broker on spare ports and `moeflow loadgen`
# drives it over HTTP SSE and over Kafka at the same concurrencies, prompt length and generated tokens; the table
# shows each level's aggregate tokens/s as a share of the engine's. The service is stopped at the end.
# Usage: scripts/bench-service.sh [model.gguf] [outdir]
#   (defaults models/bench/bench-qwen3moe-Q8_0.gguf and target/bench-service)
# Environment: CONCURRENCY (1,4,16), PROMPT_TOKENS (16), GEN_TOKENS (32), THREADS (2), REQUESTS (0 = 2 x concurrency),
#   READY_TIMEOUT seconds (300).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
model="${1:-$root/models/bench/bench-qwen3moe-Q8_0.gguf}"
out="${2:-$root/target/bench-service}"
concurrency="${CONCURRENCY:-1,4,16}"
prompt_tokens="${PROMPT_TOKENS:-16}"
gen_tokens="${GEN_TOKENS:-32}"
threads="${THREADS:-2}"
requests="${REQUESTS:-0}"
ready_timeout="${READY_TIMEOUT:-300}"

[ -f "$model" ] || { echo "bench-service: no model at $model (scripts/bench-all.sh writes the bench models)" >&2; exit 2; }
command -v curl >/dev/null || { echo "bench-service: curl is needed to wait for the service" >&2; exit 2; }
mkdir -p "$out"
model="$(cd "$(dirname "$model")" && pwd)/$(basename "$model")"
out="$(cd "$out" && pwd)"
cd "$root"

# A port nothing listens on, from $1 upwards.
free_port() {
  local p="$1"
  while (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; do p=$((p + 1)); done
  echo "$p"
}
http_port="$(free_port 18080)"
kafka_port="$(free_port 19092)"
controller_port="$(free_port $((kafka_port + 1)))"
kafka_dir="$(mktemp -d "${TMPDIR:-/tmp}/moeflow-bench-kafka.XXXXXX")"

echo "# $(date -u +%Y-%m-%dT%H:%MZ) $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg), model $(basename "$model")"
echo "# engine alone: ./moeflow loadgen --via engine --concurrency $concurrency --prompt-tokens $prompt_tokens --max-tokens $gen_tokens --threads $threads"
./moeflow loadgen --via engine --model "$model" --threads "$threads" --concurrency "$concurrency" \
  --requests "$requests" --prompt-tokens "$prompt_tokens" --max-tokens "$gen_tokens" --temperature 0 \
  --json "$out/engine.json"

server_pid=""
stop_service() {
  if [ -n "$server_pid" ] && kill -0 "$server_pid" 2>/dev/null; then
    kill "$server_pid"
    wait "$server_pid" || true
  fi
  server_pid=""
  rm -rf "$kafka_dir"
}
trap stop_service EXIT

echo "# service: http :$http_port, embedded Kafka :$kafka_port (log $out/service.log)"
./moeflow serve --model "$model" --port "$http_port" --threads "$threads" \
  -Dmoeflow.kafka.port="$kafka_port" -Dmoeflow.kafka.controller-port="$controller_port" \
  -Dmoeflow.kafka.data-dir="$kafka_dir" > "$out/service.log" 2>&1 &
server_pid=$!

deadline=$((SECONDS + ready_timeout))
until curl -fsS "http://localhost:$http_port/q/health/ready" >/dev/null 2>&1; do
  if ! kill -0 "$server_pid" 2>/dev/null; then
    echo "bench-service: the service exited; see $out/service.log" >&2
    exit 1
  fi
  if [ "$SECONDS" -ge "$deadline" ]; then
    echo "bench-service: not ready within ${ready_timeout}s; see $out/service.log" >&2
    exit 1
  fi
  sleep 1
done

echo "# service: ./moeflow loadgen --via both --concurrency $concurrency --prompt-tokens $prompt_tokens --max-tokens $gen_tokens"
./moeflow loadgen --url "http://localhost:$http_port" --kafka "localhost:$kafka_port" --via both \
  --concurrency "$concurrency" --requests "$requests" --prompt-tokens "$prompt_tokens" --max-tokens "$gen_tokens" \
  --temperature 0 --baseline "$out/engine.json" --json "$out/loadgen.json"
stop_service
echo "# results: $out/engine.json, $out/loadgen.json"
