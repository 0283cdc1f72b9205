#!/usr/bin/env bash
# Runs the JMH kernel benchmarks (kernels/src/test/java/io/moeflow/kernels/bench) from the test classpath.
# Arguments go to JMH, e.g.:
#   kernels/bench.sh KernelBenchmarks -p type=Q8_0 -p nVec=1 -p threads=1
#   kernels/bench.sh BandwidthBenchmark
#   kernels/bench.sh -f 1 -wi 1 -i 1 -r 1s KernelBenchmarks.matmul -p type=Q8_0 -p nVec=1 -p threads=1   (smoke run)
# Set SKIP_BUILD=1 to reuse target/ as it is. The machine is shared: run one benchmark at a time.
set -euo pipefail
cd "$(dirname "$0")/.."
cp_file=target/bench-classpath.txt
if [ "${SKIP_BUILD:-0}" != 1 ]; then
  ./mvnw -B -q test-compile
  ./mvnw -B -q dependency:build-classpath -Dmdep.includeScope=test -Dmdep.outputFile="$cp_file"
fi
# The same JDK the build picked (mvnw chooses JDK 25 when JAVA_HOME is older).
java_bin="${JAVA_HOME:+$JAVA_HOME/bin/}java"
if ! "$java_bin" -version 2>&1 | grep -q 'version "2[5-9]'; then
  for d in /usr/lib/jvm/temurin-25* /usr/lib/jvm/*25*; do [ -x "$d/bin/java" ] && java_bin="$d/bin/java" && break; done
fi
exec "$java_bin" --add-modules=jdk.incubator.vector --enable-native-access=ALL-UNNAMED \
  -cp "target/test-classes:target/classes:$(cat "$cp_file")" org.openjdk.jmh.Main "$@"
