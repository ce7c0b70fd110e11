#!/usr/bin/env bash
# Installs the Debian packages this project needs. `--test` adds the tools the test suite
# talks to (tcpdump, tshark/editcap/mergecap, promtool; unbound, dnsperf, dig, fstrm tools
# and the dnstap readers for the dnstap tests and benchmark; tcpreplay, pmacct, softflowd and
# nfdump for fixtures/flow/make-flow-fixtures.sh). Safe to run again: only missing
# packages are installed.
set -euo pipefail

runtime=(libpcap-dev pkg-config)
testing=(tcpdump tshark wireshark-common prometheus gzip iproute2 python3 time dnscap
         unbound dnsperf bind9-dnsutils fstrm-bin golang-github-dnstap-golang-dnstap-cli dnstap-ldns
         tcpreplay pmacct softflowd nfdump nfdump-sflow)

want=("${runtime[@]}")
if [[ "${1:-}" == "--test" ]]; then
  want+=("${testing[@]}")
fi

missing=()
for p in "${want[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [[ ${#missing[@]} -eq 0 ]]; then
  exit 0
fi

SUDO=""
if [[ $(id -u) -ne 0 ]]; then
  SUDO="sudo"
fi
echo "installing: ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
# tshark asks whether non-root users may capture; answer for it.
echo "wireshark-common wireshark-common/install-setuid boolean false" | $SUDO debconf-set-selections || true
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
