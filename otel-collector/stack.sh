#!/usr/bin/env bash
# The local stack of compose.yaml (pktvisord -> Collector -> Prometheus -> Grafana) with
# podman and podman-compose, the agent's image built from deploy/Dockerfile.
#   otel-collector/stack.sh up             # build the agent image if missing, then start
#   otel-collector/stack.sh up --offline   # no registry reachable: the Collector is a local
#                                          # rotel stand-in; only the agent and it start
#   otel-collector/stack.sh check          # wait (STACK_CHECK_SECONDS, 60) until the Collector got the
#                                          # agent's metrics: Prometheus exporter, or the log
#   otel-collector/stack.sh down
# env: PKTVISOR_IMAGE (default localhost/pktvisor:local, built by deploy/build-image.sh when
#      missing; PKTVISOR_PREBUILT=DIR builds only its runtime layer from binaries in DIR),
#      COMPOSE_PROJECT_NAME (default pktvisor-stack).
# With Docker: `docker compose up` in this folder, after building the image (README.md).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/.." && pwd)"
# shellcheck source=../deploy/container/podman-env.sh
. "$repo/deploy/container/podman-env.sh"
export PKTVISOR_IMAGE="${PKTVISOR_IMAGE:-localhost/pktvisor:local}"
project="${COMPOSE_PROJECT_NAME:-pktvisor-stack}"
marker="${TMPDIR:-/tmp}/$project.offline"

compose() {
  local files=(-f "$here/compose.yaml")
  [[ -e "$marker" ]] && files+=(-f "$here/compose.offline.yaml")
  podman-compose -p "$project" "${files[@]}" "$@"
}

agent_image() {
  if ! podman image exists "$PKTVISOR_IMAGE"; then
    if [[ -n "${PKTVISOR_PREBUILT:-}" ]]; then
      "$repo/deploy/build-image.sh" --prebuilt "$PKTVISOR_PREBUILT" --tag "$PKTVISOR_IMAGE" >/dev/null
    else
      "$repo/deploy/build-image.sh" --tag "$PKTVISOR_IMAGE" >/dev/null
    fi
  fi
}

standin_image() {
  local tag="${OTELCOL_STANDIN_IMAGE:-localhost/pktvisor-otlp-standin:local}"
  podman image exists "$tag" && return
  local rotel
  rotel="$(python3 -c 'import rotel, os; print(os.path.join(os.path.dirname(rotel.__file__), "rotel-agent"))')"
  local base; base="$("$repo/deploy/build-image.sh" --base-only | tail -n 1)"
  local ctx; ctx="$(mktemp -d)"
  cp "$here/offline/Containerfile" "$here/offline/otlp-standin.sh" "$rotel" "$ctx/"
  podman build --format docker --build-arg "BASE_IMAGE=$base" -t "$tag" "$ctx" >&2
  rm -rf "$ctx"
}

case "${1:-}" in
  up)
    agent_image
    if [[ "${2:-}" == "--offline" ]]; then
      touch "$marker"
      standin_image
      compose up -d otel-collector pktvisord
    else
      rm -f "$marker"
      compose up -d
    fi
    ;;
  check)
    for _ in $(seq 1 "${STACK_CHECK_SECONDS:-60}"); do
      if [[ -e "$marker" ]]; then
        # A handler's metric: the agent captured and pushed, not only its self-telemetry.
        if podman logs "${project}_otel-collector_1" 2>&1 | grep 'Name: pktvisor\.net\.' >/dev/null; then
          echo "the Collector stand-in received the agent's metrics"
          exit 0
        fi
      elif curl -sf "http://127.0.0.1:${COLLECTOR_PROMETHEUS_PORT:-8889}/metrics" 2>/dev/null \
           | grep '^pktvisor_net_' >/dev/null; then
        echo "the Collector exports the agent's metrics on :8889"
        exit 0
      fi
      sleep 1
    done
    echo "no metrics from the agent arrived; logs:" >&2
    compose logs >&2 || true
    exit 1
    ;;
  down)
    compose down
    # podman-compose 1.0 leaves the project's network behind.
    podman network rm -f "${project}_default" >/dev/null 2>&1 || true
    rm -f "$marker"
    ;;
  *)
    sed -n '2,13p' "$0" >&2
    exit 2
    ;;
esac
