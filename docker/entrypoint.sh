#!/usr/bin/env bash
# Entry point of the JVM image. `serve` (the default) starts the service; any other subcommand runs the
# command-line tools, as ./moeflow does in a checkout:
#   docker run --rm moeflow:jvm topics create --bootstrap-servers kafka:9092
#   docker run --rm -v "$PWD/models:/models:ro" moeflow:jvm inspect /models/stories260K/stories260K.gguf
# JDK_JAVA_OPTIONS (set in the image) carries the Vector API flag to every java started here.
set -euo pipefail
app="${MOEFLOW_HOME:-/deployments}"
cmd="${1:-serve}"
if [ "$cmd" = serve ]; then
  [ "$#" -gt 0 ] && shift
  exec java -jar "$app/quarkus-run.jar" "$@"
fi
exec java -Djava.util.logging.manager=org.jboss.logmanager.LogManager \
  -cp "$app/app/*:$app/lib/main/*:$app/lib/boot/*" io.moeflow.cli.Main "$@"
