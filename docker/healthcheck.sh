#!/usr/bin/env bash
# Container HEALTHCHECK without curl (neither image has it): GET a health endpoint of the local service over
# bash's /dev/tcp; healthy only on status 200. Usage: healthcheck.sh [PATH], default /q/health/ready.
set -euo pipefail
port="${QUARKUS_HTTP_PORT:-8080}"
path="${1:-/q/health/ready}"
exec 3<>"/dev/tcp/127.0.0.1/${port}"
printf 'GET %s HTTP/1.0\r\nHost: localhost\r\nConnection: close\r\n\r\n' "$path" >&3
status=""
IFS= read -r -t 5 status <&3 || true
exec 3<&-
case "$status" in
  "HTTP/1."?" 200"*) exit 0 ;;
  *) echo "moeflow not healthy at ${path}: ${status:-no answer}" >&2; exit 1 ;;
esac
