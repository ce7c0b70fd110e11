#!/usr/bin/env bash
# Installs the Debian packages this project needs. `--test` adds the tools the test suite
# talks to (tcpdump, tshark/editcap/mergecap, promtool; unbound, dnsperf, dig, fstrm tools
# and the dnstap readers for the dnstap tests and benchmark; tcpreplay, pmacct, softflowd and
# nfdump for fixtures/flow/make-flow-fixtures.sh; tmux for the pktvisor-cli end-to-end test,
# Pillow and DejaVu fonts for its screenshot (scripts/ansi2png.py); rotel from PyPI for the
# OTLP tests; podman, buildah, mmdebstrap, runc and podman-compose for the container image
# and compose tests, systemd for `systemd-analyze verify`, kubernetes-validate from PyPI for
# the Kubernetes manifests; iputils-ping to check the netprobe tests' responder). Safe to
# run again: only missing packages are installed.
# `kubectl` (for `kubectl kustomize`) comes with the machine image (google-cloud-cli's
# kubectl); Debian's kubernetes-client is too old for kustomize v5, so it is not installed
# here: the deploy tests say so when kubectl is missing.
set -euo pipefail

runtime=(libpcap-dev pkg-config curl libcap2-bin)
testing=(tcpdump tshark wireshark-common prometheus gzip iproute2 iputils-ping python3 time dnscap
         openssl unbound dnsperf bind9-dnsutils fstrm-bin golang-github-dnstap-golang-dnstap-cli dnstap-ldns
         tcpreplay pmacct softflowd nfdump nfdump-sflow curl python3-pip
         tmux python3-pil fonts-dejavu-core
         podman buildah mmdebstrap runc crun uidmap slirp4netns fuse-overlayfs podman-compose
         containernetworking-plugins golang-github-containernetworking-plugin-dnsname
         systemd man-db groff-base bsdutils binutils git)

want=("${runtime[@]}")
if [[ "${1:-}" == "--test" ]]; then
  want+=("${testing[@]}")
fi

# PyPI tools the tests talk to: rotel, a third-party OTLP collector (the OTLP end-to-end and
# compose tests); kubernetes-validate, the offline Kubernetes schema validator.
pip_tool() {
  local module="$1" spec="$2"
  if ! python3 -c "import $module" >/dev/null 2>&1; then
    echo "installing: $spec (PyPI)" >&2
    python3 -m pip install --quiet "$spec" 2>/dev/null \
      || python3 -m pip install --quiet --break-system-packages "$spec"
  fi
}
pip_tools() {
  if [[ "${1:-}" == "--test" ]] && command -v python3 >/dev/null 2>&1; then
    pip_tool rotel rotel==0.0.1a15
    pip_tool kubernetes_validate kubernetes-validate==1.37.0
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
