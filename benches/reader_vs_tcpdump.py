#!/usr/bin/env python3
"""Whole-process benchmark: pktvisor-reader (net + pcap policy, --periods 1) against
`tcpdump -r FILE -w /dev/null` (the libpcap baseline) on the same capture, in one run.

Generates the capture with ../shared/bench/gen_dns_pcap.py (default -n 600000, about
1.6 M packets) unless it exists, builds the release reader, then alternates the two
commands RUNS times and prints packets/s, wall time and peak RSS of each, and the ratio of
the medians. Targets (issue 2): reader wall time <= 2x tcpdump's, reader peak RSS < 64 MiB.

  benches/reader_vs_tcpdump.py [--transactions N] [--runs R] [--dir DIR]
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
GEN = os.path.join(os.environ.get("PKTVISOR_SHARED_DIR", os.path.join(ROOT, "..", "shared")),
                   "bench", "gen_dns_pcap.py")
# The generator's resolvers: the host, so packets have directions and the deep
# per-address work (cardinality, top lists) runs.
HOST_SPEC = ("10.0.0.53/32,10.0.1.53/32,192.0.2.53/32,198.51.100.53/32,"
             "2001:db8::53/128,2001:db8:1::53/128")
POLICY = f"""version: "1.0"
visor:
  taps:
    bench: {{input_type: pcap, config: {{iface: eth0, host_spec: "{HOST_SPEC}"}}}}
  policies:
    bench:
      kind: collection
      input: {{tap: bench, input_type: pcap}}
      handlers:
        modules:
          net: {{type: net}}
          pcap: {{type: pcap}}
"""


def measure(cmd):
    """Wall seconds and peak RSS (KiB) of one command, measured by GNU time (a small
    parent, so the RSS is the command's own and not that of a forked Python)."""
    start = time.perf_counter()
    proc = subprocess.run(["/usr/bin/time", "-f", "PEAK_RSS_KB=%M"] + cmd,
                          stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    wall = time.perf_counter() - start
    err = proc.stderr.decode(errors="replace")
    if proc.returncode != 0:
        sys.exit(f"command failed: {' '.join(cmd)}\n{err}")
    rss = [int(l.split("=", 1)[1]) for l in err.splitlines() if l.startswith("PEAK_RSS_KB=")]
    return wall, rss[-1] if rss else 0


def main():
    if not os.path.exists("/usr/bin/time"):
        sys.exit("GNU time is needed: apt-get install time")
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--transactions", type=int, default=600000)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--dir", default="/tmp/pktvisor-bench")
    a = ap.parse_args()
    os.makedirs(a.dir, exist_ok=True)
    cap = os.path.join(a.dir, f"dns_{a.transactions}.pcap")
    if not os.path.exists(cap + ".truth.json"):
        print(f"generating {cap} ...", file=sys.stderr, flush=True)
        subprocess.run([sys.executable, GEN, "-o", cap, "-n", str(a.transactions)], check=True,
                       stdout=subprocess.DEVNULL)
    truth = json.load(open(cap + ".truth.json"))
    packets = truth["packets_total"]
    cfg = os.path.join(a.dir, "net_pcap.yaml")
    with open(cfg, "w") as f:
        f.write(POLICY)
    target = os.environ.get("CARGO_TARGET_DIR", os.path.join(ROOT, "target"))
    subprocess.run(["cargo", "build", "--release", "--quiet", "--bin", "pktvisor-reader"], cwd=ROOT, check=True)
    reader = os.path.join(target, "release", "pktvisor-reader")
    cmds = {
        "tcpdump": ["tcpdump", "-r", cap, "-w", "/dev/null"],
        "pktvisor-reader": [reader, "--periods", "1", "--config", cfg, cap],
    }
    # Warm the page cache, then alternate so both see the same machine state.
    measure(cmds["tcpdump"])
    res = {k: [] for k in cmds}
    for _ in range(a.runs):
        for k, c in cmds.items():
            res[k].append(measure(c))
    size = os.path.getsize(cap)
    print(f"capture: {cap} ({packets} packets, {size / 2**20:.0f} MiB), {a.runs} runs each, medians:")
    med = {}
    for k, runs in res.items():
        wall = statistics.median(w for w, _ in runs)
        rss = max(r for _, r in runs)
        med[k] = (wall, rss)
        print(f"  {k:16} {wall:7.3f} s  {packets / wall / 1e6:6.2f} M packets/s  peak RSS {rss / 1024:6.1f} MiB")
    ratio = med["pktvisor-reader"][0] / med["tcpdump"][0]
    rss_mib = med["pktvisor-reader"][1] / 1024
    print(f"  ratio reader/tcpdump wall time: {ratio:.2f} (target <= 2.00)  "
          f"reader peak RSS {rss_mib:.1f} MiB (target < 64)")
    ok = ratio <= 2.0 and rss_mib < 64
    print("targets met" if ok else "TARGETS MISSED")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
