#!/usr/bin/env bash
# Sends the bad-input corpus (src/test/java/io/moeflow/api/http/BadInputCorpus.java; docs/CONFIGURATION.md,
# "Bad-input corpus") to a running moeflow service: one line per case (clear / unclear / crash) and the counts, with
# how many answers of a well-formed request sent meanwhile differed from the first (harm). Exits 1 unless every case
# is a clear error and none harmed.
# Usage: scripts/bad-input-corpus.sh [--url http://localhost:8080] [--api-key KEY] [--header-timeout-ms N]
#          [--body-timeout-ms N]   (MOEFLOW_API_KEY is used when --api-key is not given; the slow-client cases run
#          only with their bound, the service's moeflow.http.header-timeout / body-timeout in ms)
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
java="${JAVA_HOME:-/usr/lib/jvm/temurin-25-jdk-amd64}/bin/java"
[ -x "$java" ] || java="java"

classes="target/test-classes/io/moeflow/api/http/BadInputCorpus.class"
if [ ! -f "$classes" ] || [ -n "$(find src/test/java/io/moeflow/api -newer "$classes" -name '*.java' -print -quit)" ] \
    || [ ! -d target/quarkus-app/lib/main ]; then
  echo "bad-input-corpus: building the application and the test classes..." >&2
  ./mvnw -B -q -DskipTests package test-compile >&2
fi
cp="target/test-classes"
for jar in target/quarkus-app/lib/main/com.fasterxml.jackson.core.*.jar; do cp="$cp:$jar"; done
exec "$java" -cp "$cp" io.moeflow.api.http.BadInputCorpus "$@"
