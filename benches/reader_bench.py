#!/usr/bin/env python3
"""Whole-process benchmarks of pktvisor-reader against a baseline tool on the same capture,
measured in one run.

  --baseline tcpdump (issue 2): the reader with a net + pcap policy (--periods 1) against
      `tcpdump -r FILE -w /dev/null`, the libpcap baseline. Targets: reader wall time <= 2x
      tcpdump's, reader peak RSS < 64 MiB.
  --baseline dnscap (issue 3): the reader's default analysis (net, dns, dhcp, pcap;
      --periods 1) against `dnscap -r FILE -P .../rssm.so` (RSSAC statistics of the same
      file). Targets: reader faster than dnscap, reader peak RSS < 128 MiB.

Generates the capture with ../shared/bench/gen_dns_pcap.py (default -n 600000, about
1.6 M packets) unless it exists, builds the release reader, then alternates the commands
RUNS times and prints packets/s, wall time and peak RSS of each and the ratio of medians.

  --baseline workers (issue 14): the default analysis with --workers 1 and --workers 2
      against `tcpdump -r FILE -w /dev/null`. Targets on a 2-core machine: --workers 2 at
      least 1.6x faster than --workers 1 and within 1.6x of tcpdump's wall time; peak RSS
      < 160 MiB.

  --compare OTHER_READER: also run another pktvisor-reader binary (an earlier build) with the
      same arguments in the same alternation, and print the ratio of the two readers' wall
      times (this build / the other), so a change's cost is measured against the same
      baseline on the same machine state.

  benches/reader_bench.py [--baseline tcpdump|dnscap] [--transactions N] [--runs R] [--dir DIR]
                          [--compare OTHER_READER]
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


def measure(cmd, cpu=None):
    """Wall seconds and peak RSS (KiB) of one command, measured by GNU time (a small
    parent, so the RSS is the command's own and not that of a forked Python). When `cpu`
    is a list, the command's CPU seconds (user + system) are appended to it."""
    start = time.perf_counter()
    proc = subprocess.run(["/usr/bin/time", "-f", "PEAK_RSS_KB=%M CPU_S=%U+%S"] + cmd,
                          stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    wall = time.perf_counter() - start
    err = proc.stderr.decode(errors="replace")
    if proc.returncode != 0:
        sys.exit(f"command failed: {' '.join(cmd)}\n{err}")
    lines = [l for l in err.splitlines() if l.startswith("PEAK_RSS_KB=")]
    if not lines:
        return wall, 0
    rss, used = lines[-1].split(" CPU_S=")
    if cpu is not None:
        user, system = used.split("+")
        cpu.append(float(user) + float(system))
    return wall, int(rss.split("=", 1)[1])


def find_rssm():
    """The dnscap RSSM plugin (Debian package dnscap)."""
    out = subprocess.run(["dpkg", "-L", "dnscap"], capture_output=True, text=True)
    for line in out.stdout.splitlines():
        if line.endswith("/rssm.so"):
            return line
    sys.exit("dnscap's rssm.so not found: apt-get install dnscap")


def main():
    if not os.path.exists("/usr/bin/time"):
        sys.exit("GNU time is needed: apt-get install time")
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--baseline", choices=["tcpdump", "dnscap", "workers"], default="tcpdump")
    ap.add_argument("--transactions", type=int, default=600000)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--dir", default="/tmp/pktvisor-bench")
    ap.add_argument("--compare", metavar="OTHER_READER",
                    help="another pktvisor-reader binary to run with the same arguments")
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
    if a.baseline == "workers":
        return workers(a, cap, packets, reader)
    if a.baseline == "tcpdump":
        cmds = {
            "tcpdump": ["tcpdump", "-r", cap, "-w", "/dev/null"],
            "pktvisor-reader": [reader, "--periods", "1", "--config", cfg, cap],
        }
        max_ratio, max_rss = 2.0, 64
    else:
        plugin = find_rssm()
        work = os.path.join(a.dir, "dnscap-out")
        os.makedirs(work, exist_ok=True)
        cmds = {
            "dnscap": ["sh", "-c", f'cd "{work}" && exec dnscap -r "{cap}" -P "{plugin}"'],
            "pktvisor-reader": [reader, "--periods", "1", "-H", HOST_SPEC, cap],
        }
        max_ratio, max_rss = 1.0, 128
    baseline = a.baseline
    if a.compare:
        cmds["other-reader"] = [a.compare] + cmds["pktvisor-reader"][1:]
    # Warm the page cache, then alternate so both see the same machine state.
    measure(cmds[baseline])
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
    ratio = med["pktvisor-reader"][0] / med[baseline][0]
    rss_mib = med["pktvisor-reader"][1] / 1024
    target = f"<= {max_ratio:.2f}" if max_ratio != 1.0 else "< 1.00"
    print(f"  ratio reader/{baseline} wall time: {ratio:.2f} (target {target})  "
          f"reader peak RSS {rss_mib:.1f} MiB (target < {max_rss})")
    if a.compare:
        other = med["other-reader"][0] / med[baseline][0]
        print(f"  ratio other-reader/{baseline} wall time: {other:.2f}; "
              f"this reader / other reader: {med['pktvisor-reader'][0] / med['other-reader'][0]:.3f}")
    ok = (ratio < max_ratio if max_ratio == 1.0 else ratio <= max_ratio) and rss_mib < max_rss
    print("targets met" if ok else "TARGETS MISSED")
    return 0 if ok else 1


def workers(a, cap, packets, reader):
    """--workers 1 vs --workers 2 vs tcpdump, alternated, on the default analysis."""
    base = [reader, "--periods", "1", "-H", HOST_SPEC]
    cmds = {
        "tcpdump": ["tcpdump", "-r", cap, "-w", "/dev/null"],
        "reader --workers 1": base + ["--workers", "1", cap],
        "reader --workers 2": base + ["--workers", "2", cap],
    }
    measure(cmds["tcpdump"])
    res = {k: [] for k in cmds}
    cpu = {k: [] for k in cmds}
    for _ in range(a.runs):
        for k, c in cmds.items():
            res[k].append(measure(c, cpu[k]))
    size = os.path.getsize(cap)
    print(f"capture: {cap} ({packets} packets, {size / 2**20:.0f} MiB), {a.runs} runs each, medians:")
    med = {}
    for k, runs in res.items():
        wall = statistics.median(w for w, _ in runs)
        rss = max(r for _, r in runs)
        med[k] = (wall, rss)
        print(f"  {k:20} {wall:7.3f} s  {packets / wall / 1e6:6.2f} M packets/s  "
              f"CPU {statistics.median(cpu[k]):5.2f} s  peak RSS {rss / 1024:6.1f} MiB")
    speedup = med["reader --workers 1"][0] / med["reader --workers 2"][0]
    vs_tcpdump = med["reader --workers 2"][0] / med["tcpdump"][0]
    rss_mib = max(med["reader --workers 1"][1], med["reader --workers 2"][1]) / 1024
    print(f"  --workers 2 speed-up over --workers 1: {speedup:.2f}x (target >= 1.60)")
    print(f"  --workers 2 / tcpdump wall time: {vs_tcpdump:.2f} (target <= 1.60)")
    print(f"  reader peak RSS {rss_mib:.1f} MiB (target < 160)")
    ok = speedup >= 1.6 and vs_tcpdump <= 1.6 and rss_mib < 160
    print("targets met" if ok else "TARGETS MISSED")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
