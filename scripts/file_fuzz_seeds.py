#!/usr/bin/env python3
"""Seeds of the file and config fuzz targets (see scripts/fuzz.sh).

    file_fuzz_seeds.py CORPUS_DIR FILE...

Writes into CORPUS_DIR/<target>/: the head (4 KiB) of each capture (pcap_file), dnstap file
(dnstap_file) and IANA CSV (iana_csv), plain and gzip-compressed; pktvisor-style and
collector-style configuration documents (config); host specs followed by addresses
(hostspec). Seeds are named by their SHA-1, so running it again adds nothing new.
"""

import gzip
import hashlib
import os
import sys

KINDS = {".pcap": "pcap_file", ".pcapng": "pcap_file", ".dnstap": "dnstap_file", ".csv": "iana_csv"}

CONFIGS = [
    """version: "1.0"
visor:
  taps:
    t: {input_type: pcap, config: {iface: eth0, host_spec: "10.0.0.0/8"}, tags: {a: 1}}
    d: {input_type: dnstap, config: {socket: /run/pktvisor/d.sock, socket_mode: "0660"}}
    f: {input_type: sflow, config: {bind: 0.0.0.0, port: 6343}}
  global_handler_config:
    dns: {only_rcode: 2}
  policies:
    p:
      kind: collection
      input: {tap_selector: {any: [{a: 1}]}, input_type: pcap, filter: {bpf: "port 53"}}
      handlers:
        window_config: {num_periods: 2, deep_sample_rate: 50}
        modules:
          n: {type: net, require_version: "2.0", metric_groups: {enable: [top_ips]}}
          d: {type: dns, filter: {only_qname_suffix: [".x"]}}
    q: {kind: collection, input: {tap: d, input_type: dnstap, filter: {only_hosts: [10.0.0.0/8]}}, handlers: {modules: [{a: {type: dns}}, {b: {type: net}}]}}
    r: {kind: collection, input: {tap: f, input_type: flow}, handlers: {modules: {x: {type: flow, config: {max_devices: 4}}}}}
""",
    """receivers:
  pcap/eth0: {iface: eth0}
  netflow/r: {bind: 0.0.0.0, port: 2055}
  dnstap/u: {socket: /run/pktvisor/u.sock, idle_timeout: 60}
processors:
  dns/v2: {require_version: "2.0"}
  net: {}
  flow: {}
exporters:
  pktvisor_api: {}
  otlp: {endpoint: "${env:X:-http://localhost:4317}"}
service:
  pipelines:
    metrics/edge: {receivers: [pcap/eth0], processors: [net, dns/v2], exporters: [pktvisor_api]}
    metrics/f: {receivers: [netflow/r], processors: [flow], exporters: [otlp]}
    metrics/u: {receivers: [dnstap/u], processors: [dns/v2], exporters: [pktvisor_api]}
""",
    "a: &a [1, 2]\nb: &b [*a, *a]\nvisor: {taps: {t: *b}}\n",
    'version: "1.0"\nvisor:\n  taps:\n    "a/b": {input_type: pcap}\n    __all: {input_type: mock}\n',
]

HOSTSPECS = [
    b"10.0.0.0/8,fd00::/8\x00\x0a\x00\x00\x01\xc0\xa8\x00\x01",
    b"192.168.0.0/24\x00",
    b"::/0,0.0.0.0/0\x00" + bytes(range(32)),
    b"10.0.0.1\x00",
]


def put(base, target, data):
    d = os.path.join(base, target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, hashlib.sha1(data).hexdigest()), "wb") as f:
        f.write(data)


def main():
    base = sys.argv[1]
    for path in sys.argv[2:]:
        target = KINDS.get(os.path.splitext(path)[1])
        if not target or not os.path.isfile(path):
            continue
        with open(path, "rb") as f:
            head = f.read(4096)
        put(base, target, head)
        put(base, target, gzip.compress(head, mtime=0))
    for text in CONFIGS:
        put(base, "config", text.encode())
    for spec in HOSTSPECS:
        put(base, "hostspec", spec)


if __name__ == "__main__":
    main()
