#!/usr/bin/env bash
# Installs the Debian packages this project needs. `--test` adds the tools the test suite
# talks to (tcpdump, tshark/editcap/mergecap, promtool; unbound, dnsperf, dig, fstrm tools
# and the dnstap readers for the dnstap tests and benchmark; tcpreplay, pmacct, softflowd and
# nfdump for fixtures/flow/make-flow-fixtures.sh; tmux for the pktvisor-cli end-to-end test, Pillow and
# DejaVu fonts for its screenshot (scripts/ansi2png.py); rotel from PyPI for the OTLP tests). Safe to run again: only missing
# packages are installed.
set -euo pipefail

runtime=(libpcap-dev pkg-config)
testing=(tcpdump tshark wireshark-common prometheus gzip iproute2 python3 time dnscap
         openssl unbound dnsperf bind9-dnsutils fstrm-bin golang-github-dnstap-golang-dnstap-cli dnstap-ldns
         tcpreplay pmacct softflowd nfdump nfdump-sflow curl python3-pip
         tmux python3-pil fonts-dejavu-core)

want=("${runtime[@]}")
if [[ "${1:-}" == "--test" ]]; then
  want+=("${testing[@]}")
fi

# PyPI tools the tests talk to: rotel, a third-party OTLP collector (the OTLP end-to-end test).
pip_tools() {
  if [[ "${1:-}" == "--test" ]] && command -v python3 >/dev/null 2>&1 \
     && ! python3 -c "import rotel" >/dev/null 2>&1; then
    echo "installing: rotel (PyPI)" >&2
    python3 -m pip install --quiet rotel==0.0.1a15 2>/dev/null \
      || python3 -m pip install --quiet --break-system-packages rotel==0.0.1a15
  fi
}

missing=()
for p in "${want[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [[ ${#missing[@]} -eq 0 ]]; then
  pip_tools "${1:-}"
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
pip_tools "${1:-}"
