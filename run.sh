#!/usr/bin/env bash
# Quick start: installs what the build needs (libpcap, curl), builds the three release
# binaries (pktvisord, pktvisor-reader, pktvisor-cli), analyzes the built-in capture with
# pktvisor-reader, then runs the agent pktvisord on the loopback interface for a few
# seconds and shows what its REST API answers.
#   ./run.sh                                   # the whole tour
#   ./run.sh --periods 1 -H 10.0.0.0/8 my.pcap # pktvisor-reader on your own capture instead
# PKTVISOR_DEMO_PORT (default 10853) is the agent's port during the tour.
set -euo pipefail
cd "$(dirname "$0")"
scripts/setup-debian.sh
cargo build --release --quiet --bins
target="${CARGO_TARGET_DIR:-target}"
if [[ $# -gt 0 ]]; then
  exec "$target/release/pktvisor-reader" "$@"
fi

echo "== pktvisor-reader --periods 1 -H 10.0.0.0/24,fd00::/64 fixtures/mixed-lo.pcapng" >&2
"$target/release/pktvisor-reader" --periods 1 -H 10.0.0.0/24,fd00::/64 fixtures/mixed-lo.pcapng

agent="$target/release/pktvisord"
port="${PKTVISOR_DEMO_PORT:-10853}"
# Capture needs CAP_NET_RAW and CAP_NET_ADMIN: root, or file capabilities on the binary.
if [[ $(id -u) -ne 0 ]] && ! getcap "$agent" 2>/dev/null | grep -q cap_net_raw; then
  echo "== sudo setcap cap_net_raw,cap_net_admin=eip $agent   (capture without root)" >&2
  sudo setcap cap_net_raw,cap_net_admin=eip "$agent" \
    || echo "   setcap failed: the agent runs, but cannot capture" >&2
fi
echo "== $agent lo -l 127.0.0.1 -p $port   (for a few seconds)" >&2
log="$(mktemp)"
"$agent" lo -l 127.0.0.1 -p "$port" >"$log" 2>&1 &
pid=$!
trap 'kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; rm -f "$log"' EXIT
base="http://127.0.0.1:$port"
for _ in $(seq 1 100); do
  curl -sf "$base/readyz" >/dev/null && break
  if ! kill -0 "$pid" 2>/dev/null; then cat "$log" >&2; exit 1; fi
  sleep 0.1
done
for path in /api/v1/metrics/app /readyz /api/v1/metrics/bucket/0; do
  echo "== curl -s $base$path" >&2
  curl -s "$base$path" | head -c 600 || true
  echo
  sleep 1   # the requests themselves are loopback traffic the agent counts
done
echo "== curl -s $base/metrics   (first samples)" >&2
curl -s "$base/metrics" | grep -v '^#' | head -n 5 || true
echo "== agent log" >&2
kill "$pid"
wait "$pid" 2>/dev/null || true
head -n 5 "$log" >&2
echo "Next: README.md, section \"Run the agent\"." >&2
