#!/usr/bin/env python3
"""OTLP export size and encoding time of one export of the default policy (issue 5).

Runs `pktvisor-reader FILE -H <resolvers> --otlp http://127.0.0.1:PORT` (default policy: net,
dns, dhcp, pcap) with OTLP/HTTP + gzip against a small loopback HTTP receiver in this script,
which records the exact request bodies as they came over the wire. Prints the data points,
the protobuf size, the gzip'd wire size (target: < 1 MiB) and the reader's own encoding
time (logged by the reader). Cumulative temporality and exponential histograms by default;
--delta / --explicit switch them.

The capture is generated with ../shared/bench/gen_dns_pcap.py (default -n 600000, about
1.6 M packets) unless it exists; the release reader is built unless --debug.

  benches/otlp_bench.py [--transactions N] [--dir DIR] [--periods P] [--delta] [--explicit] [--debug]
"""
import argparse
import http.server
import json
import os
import re
import subprocess
import sys
import threading

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
GEN = os.path.join(os.environ.get("PKTVISOR_SHARED_DIR", os.path.join(ROOT, "..", "shared")),
                   "bench", "gen_dns_pcap.py")
HOST_SPEC = ("10.0.0.53/32,10.0.1.53/32,192.0.2.53/32,198.51.100.53/32,"
             "2001:db8::53/128,2001:db8:1::53/128")

BODIES = []


class Receiver(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        n = int(self.headers.get("content-length", "0"))
        BODIES.append((self.headers.get("content-encoding", ""), self.rfile.read(n)))
        self.send_response(200)
        self.send_header("content-type", "application/x-protobuf")
        self.send_header("content-length", "0")
        self.end_headers()

    def log_message(self, *a):
        pass


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--transactions", type=int, default=600000)
    ap.add_argument("--dir", default="/tmp/pktvisor-bench")
    ap.add_argument("--periods", type=int, default=5)
    ap.add_argument("--delta", action="store_true")
    ap.add_argument("--explicit", action="store_true")
    ap.add_argument("--debug", action="store_true", help="use the debug build (size is the same)")
    a = ap.parse_args()
    os.makedirs(a.dir, exist_ok=True)
    cap = os.path.join(a.dir, f"dns_{a.transactions}.pcap")
    if not os.path.exists(cap):
        subprocess.run([sys.executable, GEN, "-o", cap, "-n", str(a.transactions)], check=True,
                       stdout=subprocess.DEVNULL)
    target = os.environ.get("CARGO_TARGET_DIR", os.path.join(ROOT, "target"))
    profile = "debug" if a.debug else "release"
    build = ["cargo", "build", "--quiet", "--bin", "pktvisor-reader"] + ([] if a.debug else ["--release"])
    subprocess.run(build, cwd=ROOT, check=True)
    reader = os.path.join(target, profile, "pktvisor-reader")

    srv = http.server.HTTPServer(("127.0.0.1", 0), Receiver)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    env = dict(os.environ, OTEL_EXPORTER_OTLP_PROTOCOL="http/protobuf",
               OTEL_EXPORTER_OTLP_COMPRESSION="gzip")
    if a.delta:
        env["OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE"] = "delta"
    if a.explicit:
        env["OTEL_EXPORTER_OTLP_METRICS_DEFAULT_HISTOGRAM_AGGREGATION"] = "explicit_bucket_histogram"
    cmd = [reader, cap, "-H", HOST_SPEC, "--periods", str(a.periods),
           "--otlp", f"http://127.0.0.1:{srv.server_port}"]
    p = subprocess.run(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    err = p.stderr.decode(errors="replace")
    srv.shutdown()
    if p.returncode != 0 or not BODIES:
        sys.exit(f"reader failed ({p.returncode}):\n{err}")
    m = re.search(r"encoded (\d+) data points \((\d+) bytes\) in ([0-9.]+) ms", err)
    enc, body = BODIES[-1]
    result = {
        "capture": cap,
        "build": profile,
        "temporality": "delta" if a.delta else "cumulative",
        "histograms": "explicit" if a.explicit else "exponential",
        "data_points": int(m.group(1)) if m else None,
        "protobuf_bytes": int(m.group(2)) if m else None,
        "wire_bytes_gzip": len(body),
        "content_encoding": enc,
        "encode_ms": float(m.group(3)) if m else None,
        "target_wire_bytes": 1 << 20,
        "under_target": len(body) < (1 << 20),
    }
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
