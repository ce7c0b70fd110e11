#!/bin/sh
# Last step of both runtime targets of deploy/Dockerfile (as root, binaries in place):
# modes, file capabilities on pktvisord, pktvisor's alias names, setcap's package removed
# again if the base layer installed it, and a smoke test of the three binaries.
set -e
cd /usr/local/bin
chmod 0755 pktvisord pktvisor-reader pktvisor-cli pktvisor-entrypoint pktvisor-healthcheck
# Permitted, not effective: pktvisord raises them itself (src/ops/caps.rs), so it also
# starts in a container that was not given NET_RAW/NET_ADMIN.
setcap cap_net_raw,cap_net_admin=ip pktvisord
getcap pktvisord | grep -q 'cap_net_admin,cap_net_raw=ip'
ln -sf pktvisor-cli pktvisor
ln -sf pktvisor-reader pktvisor-pcap
removable="$(cat /usr/local/lib/pktvisor/removable)"
if [ -n "$removable" ]; then
  apt-get purge -y --auto-remove $removable
fi
rm -f /usr/local/lib/pktvisor/removable /usr/local/lib/pktvisor/finalize.sh
pktvisord --version
pktvisor-reader --help >/dev/null
pktvisor-cli --version
ldd pktvisord | grep -q libpcap
