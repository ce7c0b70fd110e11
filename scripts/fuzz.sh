#!/usr/bin/env bash
# Fuzzes the decoder (fuzz/fuzz_targets/decode.rs) for a bounded time, seeded with real
# frames from pktvisor's fixtures and ours. Fails on any crash, panic or timeout.
#   scripts/fuzz.sh [SECONDS]   (default 60)
set -euo pipefail
cd "$(dirname "$0")/.."
seconds="${1:-60}"
if ! command -v cargo-fuzz >/dev/null 2>&1; then
  cargo install cargo-fuzz --locked --quiet
fi
corpus="${FUZZ_CORPUS:-${CARGO_TARGET_DIR:-$PWD/target}/fuzz-corpus/decode}"
mkdir -p "$corpus"
corpus="$(cd "$corpus" && pwd)"
shopt -s nullglob
shared="${PKTVISOR_SHARED_DIR:-../shared}"
python3 scripts/fuzz_seeds.py "$corpus" "$shared"/fixtures/pktvisor/*.pcap fixtures/*.pcap >/dev/null
# Stable toolchain: no sanitizer (-s none); libFuzzer still finds panics, which abort.
cd fuzz
cargo fuzz build -s none decode
log="$(mktemp)"
if cargo fuzz run -s none decode "$corpus" -- \
  -max_total_time="$seconds" -max_len=8192 -timeout=10 -print_final_stats=1 >"$log" 2>&1; then
  grep -E "^(Done|stat::)" "$log"
  rm -f "$log"
else
  grep -v -E "Uses:|NEW_FUNC|^#[0-9]" "$log" | tail -n 80
  echo "fuzzing failed; the crashing input is under fuzz/artifacts/decode/ (log: $log)" >&2
  exit 1
fi
