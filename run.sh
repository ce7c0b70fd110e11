#!/usr/bin/env bash
# Quick start: installs what the build needs (libpcap), builds the release binaries and
# runs pktvisor-reader on the built-in default capture. Any arguments replace the defaults:
#   ./run.sh                                   # analyze fixtures/mixed-lo.pcapng
#   ./run.sh --periods 1 -H 10.0.0.0/8 my.pcap # your own capture and flags
set -euo pipefail
cd "$(dirname "$0")"
scripts/setup-debian.sh
cargo build --release --quiet --bin pktvisor-reader
target="${CARGO_TARGET_DIR:-target}"
if [[ $# -eq 0 ]]; then
  set -- --periods 1 -H 10.0.0.0/24,fd00::/64 fixtures/mixed-lo.pcapng
fi
exec "$target/release/pktvisor-reader" "$@"
