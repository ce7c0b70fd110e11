#!/bin/sh
# Entry point of the Collector stand-in: drops the Collector's --config flag (compose.yaml's
# command, which podman-compose keeps when an override adds one) and starts rotel with an
# OTLP receiver that logs the metrics it gets.
for a; do
  shift
  case "$a" in
    --config=*) ;;
    *) set -- "$@" "$a" ;;
  esac
done
if [ "$#" -eq 0 ]; then
  set -- --otlp-grpc-endpoint 0.0.0.0:4317 --otlp-http-endpoint 0.0.0.0:4318 \
    --exporter blackhole --debug-log metrics --debug-log-verbosity detailed
fi
exec /usr/local/bin/rotel-agent start "$@"
