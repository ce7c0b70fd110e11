#!/usr/bin/env bash
# Fuzzes the targets in fuzz/fuzz_targets for a bounded time (SECONDS in all: 3/8 for
# `decode`, frames through decode, reassembly and the processors; a quarter for `dns`, DNS
# messages and DNS-over-TCP streams; 1/8 for `dnstap`, Frame Streams bytes through the
# codec, handshake, protobuf, mapping and the dns/net processors; 1/8 each for `netflow` and
# `sflow`, export datagrams through the flow decoder, its template caches and the flow
# processor), seeded with real frames, DNS messages, dnstap streams and flow exports from
# pktvisor's fixtures and ours. Fails on any crash,
# panic or timeout.
#   scripts/fuzz.sh [SECONDS]   (default 60)
set -euo pipefail
cd "$(dirname "$0")/.."
seconds="${1:-60}"
if ! command -v cargo-fuzz >/dev/null 2>&1; then
  cargo install cargo-fuzz --locked --quiet
fi
base="${FUZZ_CORPUS:-${CARGO_TARGET_DIR:-$PWD/target}/fuzz-corpus}"
mkdir -p "$base/decode" "$base/dns" "$base/dnstap" "$base/netflow" "$base/sflow"
base="$(cd "$base" && pwd)"
shopt -s nullglob
shared="${PKTVISOR_SHARED_DIR:-../shared}"
captures=("$shared"/fixtures/pktvisor/*.pcap fixtures/*.pcap fixtures/dns/*.pcap)
python3 scripts/fuzz_seeds.py "$base/decode" "${captures[@]}" >/dev/null
python3 scripts/fuzz_seeds.py --dns "$base/dns" "${captures[@]}" >/dev/null
# dnstap seeds: the head of each dnstap stream and each of its first frames alone
python3 - "$base/dnstap" "$shared"/fixtures/pktvisor/*.dnstap fixtures/dnstap/*.dnstap <<'EOF'
import hashlib, os, sys
out = sys.argv[1]
for path in sys.argv[2:]:
    d = open(path, "rb").read()
    seeds, i = [d[:4096]], 0
    while i + 4 <= len(d) and len(seeds) < 400:
        n = int.from_bytes(d[i:i + 4], "big")
        if n == 0:
            n = 4 + int.from_bytes(d[i + 4:i + 8], "big")
        seeds.append(d[i + 4:i + 4 + n])
        i += 4 + n
    for s in seeds:
        open(os.path.join(out, hashlib.sha1(s).hexdigest()), "wb").write(s)
EOF
# netflow / sflow seeds: runs of exported datagrams from the flow captures
python3 scripts/flow_fuzz_seeds.py "$base/netflow" "$base/sflow" \
  "$shared"/fixtures/pktvisor/nf*.pcap "$shared"/fixtures/pktvisor/ipfix.pcap \
  "$shared"/fixtures/pktvisor/sflow*.pcap fixtures/flow/*.pcap
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
run decode $((seconds * 3 / 8))
run dns $((seconds / 4))
run dnstap $((seconds / 8))
run netflow $((seconds / 8))
run sflow $((seconds - seconds * 3 / 8 - seconds / 4 - seconds / 8 - seconds / 8))
