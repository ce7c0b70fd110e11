#!/usr/bin/env python3
"""Whole-process benchmark of `pktvisor-reader -i netflow` on a capture of NetFlow v9 and
IPFIX datagrams (issue 7's target: at least 1 M flow records/s decoded and aggregated on
one core).

Generates the capture with benches/gen_flow_pcap.py (default 1,000,000 records, 30 per
datagram) unless it exists, builds the release reader, then runs RUNS times each of: the
default flow policy (`-i netflow --periods 1`, default metric groups) and the same policy
without the `top_ips_ports` group (the costliest on high-cardinality traffic: nearly every
address:port pair is new), and prints records/s (per wall second and per CPU second, user + system), wall time and peak
RSS (medians). With `--baseline READER` (a pktvisor-reader built from another commit) the
same cases run with it too, interleaved in the same run, and the ratios are printed: the
machine is shared, so compare figures of one run only.

  benches/flow_bench.py [--records N] [--runs R] [--dir DIR] [--baseline READER]
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
NO_IP_PORTS = """visor:
  taps:
    bench: {input_type: flow, config: {flow_type: netflow}}
  policies:
    bench:
      kind: collection
      input: {tap: bench, input_type: flow}
      handlers:
        modules:
          flow: {type: flow, metric_groups: {disable: [top_ips_ports]}}
"""


def measure(cmd):
    start = time.perf_counter()
    proc = subprocess.run(["/usr/bin/time", "-f", "PEAK_RSS_KB=%M CPU_S=%U+%S"] + cmd,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    wall = time.perf_counter() - start
    err = proc.stderr.decode(errors="replace")
    if proc.returncode != 0:
        sys.exit(f"command failed: {' '.join(cmd)}\n{err}")
    rss, cpu = 0, wall
    for line in err.splitlines():
        if line.startswith("PEAK_RSS_KB="):
            fields = dict(f.split("=", 1) for f in line.split())
            rss = int(fields["PEAK_RSS_KB"])
            cpu = sum(float(x) for x in fields["CPU_S"].split("+"))
    return wall, rss, cpu, proc.stdout


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--records", type=int, default=1_000_000)
    p.add_argument("--runs", type=int, default=3)
    p.add_argument("--dir", default="/tmp/pktvisor-bench")
    p.add_argument("--baseline", help="a pktvisor-reader to compare with (same cases)")
    a = p.parse_args()
    os.makedirs(a.dir, exist_ok=True)
    cap = os.path.join(a.dir, f"flows_{a.records}.pcap")
    if not os.path.exists(cap):
        subprocess.run([sys.executable, os.path.join(ROOT, "benches", "gen_flow_pcap.py"),
                        "-o", cap, "-n", str(a.records)], check=True)
    subprocess.run(["cargo", "build", "--release", "--quiet", "--bin", "pktvisor-reader"],
                   cwd=ROOT, check=True)
    target = os.environ.get("CARGO_TARGET_DIR", os.path.join(ROOT, "target"))
    reader = os.path.join(target, "release", "pktvisor-reader")
    cfg = os.path.join(a.dir, "flow_no_ip_ports.yaml")
    open(cfg, "w").write(NO_IP_PORTS)
    readers = [("", reader)] + ([("baseline ", a.baseline)] if a.baseline else [])
    cases = {}
    for tag, r in readers:
        cases[tag + "default groups"] = [r, "-i", "netflow", "--periods", "1", cap]
        cases[tag + "without top_ips_ports"] = [r, "--config", cfg, "--periods", "1", cap]
    results = {k: [] for k in cases}
    for _ in range(a.runs):
        for name, cmd in cases.items():
            wall, rss, cpu, out = measure(cmd)
            doc = json.loads(out)
            flow = doc["1m"]["flow"] if "1m" in doc else doc["bench"]["bench-bench-flow"]["flow"]
            got = sum(d["records_flows"] for d in flow["devices"].values())
            if got != a.records:
                sys.exit(f"{name}: counted {got} records, the capture has {a.records}")
            results[name].append((wall, rss, cpu))
    print(f"capture: {cap} ({a.records} records, NetFlow v9 + IPFIX)")
    med = {}
    for name, rs in results.items():
        wall = statistics.median(r[0] for r in rs)
        rss = statistics.median(r[1] for r in rs)
        cpu = statistics.median(r[2] for r in rs)
        med[name] = (wall, cpu)
        print(f"{name:33s} {a.records / wall / 1e6:6.2f} M records/s "
              f"({a.records / cpu / 1e6:6.2f} per CPU s)  wall {wall:6.2f} s  "
              f"peak RSS {rss / 1024:6.1f} MiB")
    if a.baseline:
        for name in ("default groups", "without top_ips_ports"):
            (w, c), (bw, bc) = med[name], med["baseline " + name]
            print(f"{name:33s} speed-up vs baseline: x{bw / w:.2f} wall, x{bc / c:.2f} CPU")


if __name__ == "__main__":
    main()
