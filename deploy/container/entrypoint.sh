#!/bin/sh
# Entry point of the pktvisor image, as pktvisor's own: the first argument names the
# program (pktvisord, pktvisor-reader, pktvisor-cli; pktvisor's older names pktvisor ->
# pktvisor-cli and pktvisor-pcap -> pktvisor-reader), the rest are its arguments.
#   podman run --rm pktvisor:local pktvisor-reader --periods 1 /data/capture.pcap
#   podman run --cap-add NET_RAW --cap-add NET_ADMIN --network host pktvisor:local pktvisord eth0
set -e
if [ "$#" -eq 0 ]; then
  echo "usage: <pktvisord|pktvisor-reader|pktvisor-cli> [ARGS...]" >&2
  echo "  e.g. pktvisord --help, pktvisor-reader --periods 1 /data/capture.pcap" >&2
  exit 1
fi
prog="$1"
shift
case "$prog" in
  pktvisor) prog=pktvisor-cli ;;
  pktvisor-pcap) prog=pktvisor-reader ;;
  pktvisord|pktvisor-reader|pktvisor-cli|pktvisor-healthcheck) ;;
  -*) set -- "$prog" "$@"; prog=pktvisord ;;   # flags alone: the agent's
  *) exec "$prog" "$@" ;;                       # any other command (sh, ...)
esac
exec "/usr/local/bin/$prog" "$@"
