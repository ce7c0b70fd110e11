#!/usr/bin/env bash
# Fuzzes the targets in fuzz/fuzz_targets for a bounded time (SECONDS in all: two thirds
# for `decode`, frames through decode, reassembly and the processors; one third for `dns`,
# DNS messages and DNS-over-TCP streams), seeded with real frames and DNS messages from
# pktvisor's fixtures and ours. Fails on any crash, panic or timeout.
#   scripts/fuzz.sh [SECONDS]   (default 60)
set -euo pipefail
cd "$(dirname "$0")/.."
seconds="${1:-60}"
if ! command -v cargo-fuzz >/dev/null 2>&1; then
  cargo install cargo-fuzz --locked --quiet
fi
base="${FUZZ_CORPUS:-${CARGO_TARGET_DIR:-$PWD/target}/fuzz-corpus}"
mkdir -p "$base/decode" "$base/dns"
base="$(cd "$base" && pwd)"
shopt -s nullglob
shared="${PKTVISOR_SHARED_DIR:-../shared}"
captures=("$shared"/fixtures/pktvisor/*.pcap fixtures/*.pcap fixtures/dns/*.pcap)
python3 scripts/fuzz_seeds.py "$base/decode" "${captures[@]}" >/dev/null
python3 scripts/fuzz_seeds.py --dns "$base/dns" "${captures[@]}" >/dev/null
cd fuzz
run() {
  local target="$1" secs="$2"
  cargo fuzz build -s none "$target"
  local log
  log="$(mktemp)"
  # Stable toolchain: no sanitizer (-s none); libFuzzer still finds panics, which abort.
  if cargo fuzz run -s none "$target" "$base/$target" -- \
    -max_total_time="$secs" -max_len=8192 -timeout=10 -print_final_stats=1 >"$log" 2>&1; then
    echo "$target: $(grep -E "^Done" "$log")"
    rm -f "$log"
  else
    grep -v -E "Uses:|NEW_FUNC|^#[0-9]" "$log" | tail -n 80
    echo "fuzzing $target failed; the crashing input is under fuzz/artifacts/$target/ (log: $log)" >&2
    exit 1
  fi
}
run decode $((seconds * 2 / 3))
run dns $((seconds - seconds * 2 / 3))
