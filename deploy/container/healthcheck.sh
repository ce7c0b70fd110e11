#!/bin/bash
# HEALTHCHECK of the pktvisor image: GET /readyz of the agent in this container
# (200 when every input runs). Uses bash's /dev/tcp: the image has no HTTP client.
# PKTVISOR_HEALTHCHECK_HOST / PKTVISOR_PORT override 127.0.0.1 / 10853.
host="${PKTVISOR_HEALTHCHECK_HOST:-127.0.0.1}"
port="${PKTVISOR_PORT:-10853}"
exec 3<>"/dev/tcp/$host/$port" || exit 1
printf 'GET /readyz HTTP/1.0\r\nHost: %s\r\n\r\n' "$host" >&3
IFS= read -r -t 5 status <&3 || exit 1
case "$status" in
  "HTTP/1."?" 200"*) exit 0 ;;
  *) echo "readyz: $status" >&2; exit 1 ;;
esac
