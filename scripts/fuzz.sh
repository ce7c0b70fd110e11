#!/usr/bin/env bash
# Fuzzes every way into the agent and the reader for a bounded time, SECONDS in all, split
# in twentieths: `decode` 4 (frames through decode, reassembly and the processors), `dns` 3
# (DNS messages and DNS-over-TCP streams), `dnstap` 2 (Frame Streams bytes through the codec,
# handshake, protobuf, mapping and the dns/net processors), `netflow` 2 and `sflow` 2 (export
# datagrams through the flow decoder, its template caches and budgets, and the flow
# processor), `pcap_file` 2 (capture files: pcap, pcapng, gzip), `dnstap_file` 1 (the dnstap
# file wrapper), `config` 2 (YAML documents of both styles resolved into plans: config files,
# admin API bodies, reloads), `hostspec` 1 and `iana_csv` 1 (the IANA service registry);
# seeded with real frames, DNS messages, dnstap streams, flow exports, captures, configs and
# CSVs from pktvisor's fixtures and ours. Every target runs with an RSS limit (512 MiB), so
# memory blow-ups are found like crashes. Fails on any crash, panic, timeout or RSS overrun.
#   scripts/fuzz.sh [SECONDS]   (default 60)
set -euo pipefail
cd "$(dirname "$0")/.."
seconds="${1:-60}"
if ! command -v cargo-fuzz >/dev/null 2>&1; then
  cargo install cargo-fuzz --locked --quiet
fi
base="${FUZZ_CORPUS:-${CARGO_TARGET_DIR:-$PWD/target}/fuzz-corpus}"
targets=(decode dns dnstap netflow sflow pcap_file dnstap_file config hostspec iana_csv)
for t in "${targets[@]}"; do mkdir -p "$base/$t"; done
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
# capture, dnstap and CSV files (their heads, plain and gzip-compressed), configs, host specs
python3 scripts/file_fuzz_seeds.py "$base" "$shared"/fixtures/pktvisor/*.pcap \
  "$shared"/fixtures/pktvisor/*.dnstap "$shared"/fixtures/pktvisor/*.csv fixtures/*.pcap \
  fixtures/*.pcapng fixtures/dns/*.pcap fixtures/dnstap/*.dnstap
cd fuzz
run() {
  local target="$1" secs="$2"
  cargo fuzz build -s none "$target"
  local log
  log="$(mktemp)"
  # Stable toolchain: no sanitizer (-s none); libFuzzer still finds panics, which abort.
  if cargo fuzz run -s none "$target" "$base/$target" -- \
    -max_total_time="$secs" -max_len=8192 -timeout=10 -rss_limit_mb=512 \
    -malloc_limit_mb=512 -print_final_stats=1 >"$log" 2>&1; then
    echo "$target: $(grep -E "^Done" "$log")"
    rm -f "$log"
  else
    grep -v -E "Uses:|NEW_FUNC|^#[0-9]" "$log" | tail -n 80
    echo "fuzzing $target failed; the crashing input is under fuzz/artifacts/$target/ (log: $log)" >&2
    exit 1
  fi
}
# twentieths of SECONDS per target; the last takes what rounding left
share=(4 3 2 2 2 2 1 2 1 1)
used=0
for i in "${!targets[@]}"; do
  if ((i == ${#targets[@]} - 1)); then
    secs=$((seconds - used))
  else
    secs=$((seconds * share[i] / 20))
  fi
  ((secs < 1)) && secs=1
  used=$((used + secs))
  run "${targets[$i]}" "$secs"
done
