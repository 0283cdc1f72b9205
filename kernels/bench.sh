#!/usr/bin/env bash
# Runs the JMH kernel benchmarks (kernels/src/test/java/io/moeflow/kernels/bench) from the test classpath.
# Arguments go to JMH, e.g.:
#   kernels/bench.sh KernelBenchmarks -p type=Q8_0 -p nVec=1 -p threads=1
#   kernels/bench.sh BandwidthBenchmark
#   kernels/bench.sh -f 1 -wi 1 -i 1 -r 1s KernelBenchmarks.matmul -p type=Q8_0 -p nVec=1 -p threads=1   (smoke run)
#   WIDTH=256 kernels/bench.sh KernelBenchmarks -p type=Q4_K -p nVec=1   (the forked JVM limited to 256-bit vectors)
# WIDTH picks the vector width of the benchmark JVM on an AVX-512 machine: 512 (default: the machine's own),
# 256 (-XX:UseAVX=2: AVX2 code, 16 ymm registers, as on an AVX2-only CPU), 256vl (-XX:MaxVectorSize=32: AVX-512VL
# instructions on ymm), 128 (-XX:MaxVectorSize=16) or scalar (-Dmoeflow.kernels.scalar=true).
# Set SKIP_BUILD=1 to reuse target/ as it is. The machine is shared: run one benchmark at a time.
set -euo pipefail
case "${WIDTH:-512}" in
  512) width_flags=() ;;
  256) width_flags=(-jvmArgsAppend -XX:UseAVX=2) ;;
  256vl) width_flags=(-jvmArgsAppend -XX:MaxVectorSize=32) ;;
  128) width_flags=(-jvmArgsAppend -XX:MaxVectorSize=16) ;;
  scalar) width_flags=(-jvmArgsAppend -Dmoeflow.kernels.scalar=true) ;;
  *) echo "bench.sh: WIDTH must be 512, 256, 256vl, 128 or scalar, not '${WIDTH}'" >&2; exit 2 ;;
esac
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
  -cp "target/test-classes:target/classes:$(cat "$cp_file")" org.openjdk.jmh.Main "${width_flags[@]}" "$@"
