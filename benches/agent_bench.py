#!/usr/bin/env python3
"""Whole-process benchmark of pktvisord's live capture (issue 4), one run, needs root.

In a throwaway network namespace with a veth pair, replays the generated capture
(../shared/bench/gen_dns_pcap.py, default -n 600000: about 1.6 M packets) with
`tcpreplay -K --topspeed` into veth0 twice:

  1. `tcpdump -i veth1 -w /dev/null` listening: the baseline (packets captured / dropped
     by the kernel, as tcpdump reports them);
  2. `pktvisord veth1` (pktvisor's default policy: net, dhcp, dns, pcap) listening, while a
     prober inside the namespace requests /api/v1/metrics/bucket/0 and /metrics in a loop.

Prints packets sent, the replay rate, what each listener counted and lost, the agent's
kernel drops (pcap os_drops), the REST and /metrics latency quantiles during the replay,
and the agent's peak RSS. Targets: the agent loses no more than tcpdump, counts every
packet it receives, and REST and /metrics answer under 50 ms at the 99th percentile.

With --af-packet (issue 14), the agent captures with AF_PACKET rings instead, once with
--workers 1 and once with --workers 2 (one ring per worker in a fanout group), and each
count is compared with what pktvisor-reader counts on the same capture. Targets: the
fanned-out agent loses nothing and counts exactly what the reader counts.

  sudo benches/agent_bench.py [--transactions N] [--dir DIR] [--otlp] [--af-packet]
"""
import argparse
import json
import os
import re
import signal
import statistics
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
GEN = os.path.join(os.environ.get("PKTVISOR_SHARED_DIR", os.path.join(ROOT, "..", "shared")),
                   "bench", "gen_dns_pcap.py")
PROBE = os.path.join(ROOT, "benches", "http_probe.py")
NS = f"pvbench{os.getpid()}"


def sh(*args, check=True, **kw):
    return subprocess.run(list(args), check=check, **kw)


def ns(*args, **kw):
    return sh("ip", "netns", "exec", NS, *args, **kw)


def setup():
    sh("ip", "netns", "add", NS)
    ns("ip", "link", "add", "veth0", "type", "veth", "peer", "name", "veth1")
    for k in ("all", "default", "veth0", "veth1"):
        ns("sysctl", "-qw", f"net.ipv6.conf.{k}.disable_ipv6=1")
    for d in ("lo", "veth0", "veth1"):
        ns("ip", "link", "set", d, "up")


def replay(cap, loops=1):
    """tcpreplay -K --topspeed; returns (packets sent, seconds)."""
    out = ns("tcpreplay", "-K", "--topspeed", "-l", str(loops), "-i", "veth0", cap,
             capture_output=True, text=True)
    sent = int(re.search(r"Actual: (\d+) packets", out.stdout).group(1))
    secs = float(re.search(r"packets \(\d+ bytes\) sent in ([\d.]+) seconds", out.stdout).group(1))
    return sent, secs


def tcpdump_baseline(cap):
    p = subprocess.Popen(["ip", "netns", "exec", NS, "tcpdump", "-i", "veth1", "-w", "/dev/null"],
                         stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    time.sleep(1.5)
    sent, secs = replay(cap)
    time.sleep(1.5)
    p.send_signal(signal.SIGINT)
    err = p.communicate(timeout=30)[1]
    captured = int(re.search(r"(\d+) packets captured", err).group(1))
    dropped = int(re.search(r"(\d+) packets dropped by kernel", err).group(1))
    return sent, secs, captured, dropped


def get(port, path):
    out = ns("curl", "-s", "-m", "10", f"http://127.0.0.1:{port}{path}", capture_output=True, text=True,
             check=False)
    return out.stdout


def cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


AF_PACKET_POLICY = """version: "1.0"
visor:
  taps:
    default: {input_type: pcap, config: {iface: veth1, pcap_source: af_packet}}
  policies:
    default:
      kind: collection
      input: {tap: default, input_type: pcap}
      handlers:
        window_config: {num_periods: 5}
        modules: {net: {type: net}, dhcp: {type: dhcp}, dns: {type: dns}, pcap_stats: {type: pcap}}
"""


def agent_run(cap, binary, port, otlp, loops=1, args=("veth1",)):
    env = dict(os.environ)
    env.pop("OTEL_EXPORTER_OTLP_ENDPOINT", None)
    if otlp:
        env["OTEL_EXPORTER_OTLP_ENDPOINT"] = otlp
        env["OTEL_METRIC_EXPORT_INTERVAL"] = "10000"
    p = subprocess.Popen(["ip", "netns", "exec", NS, binary, *args, "-l", "127.0.0.1", "-p", str(port)],
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    for _ in range(100):
        if '"ready":true' in get(port, "/readyz"):
            break
        time.sleep(0.1)
    probe = subprocess.Popen(["ip", "netns", "exec", NS, sys.executable, PROBE, str(port)],
                             stdout=subprocess.PIPE, text=True)
    time.sleep(1.0)
    cpu0 = cpu_seconds(p.pid)
    sent, secs = replay(cap, loops)
    time.sleep(1.0)
    probe.send_signal(signal.SIGINT)
    lat = json.loads(probe.communicate(timeout=30)[0])
    # Wait until the count settles (the worker drains its queue).
    last, stable = -1, 0
    for _ in range(100):
        w = json.loads(get(port, "/api/v1/policies/default/metrics/window/5") or "{}")
        h = w.get("default", {})
        total = h.get("default-default-net", {}).get("packets", {}).get("total", 0)
        drops = h.get("default-default-pcap_stats", {}).get("pcap", {}).get("os_drops", 0)
        stable = stable + 1 if total == last else 0
        last = total
        if stable >= 3:
            break
        time.sleep(0.3)
    cpu = cpu_seconds(p.pid) - cpu0
    pushed = 0
    for line in get(port, "/metrics").splitlines():
        if line.startswith("pktvisord_otlp_points_sent"):
            pushed = int(float(line.rsplit(" ", 1)[1]))
    lat["otlp_points_sent"] = pushed
    with open(f"/proc/{p.pid}/status") as f:
        hwm = [int(l.split()[1]) for l in f if l.startswith("VmHWM:")][0]
    p.send_signal(signal.SIGTERM)
    t0 = time.perf_counter()
    rc = p.wait(timeout=30)
    stop_secs = time.perf_counter() - t0
    return sent, secs, last, drops, lat, hwm, rc, stop_secs, cpu


def rotel_agent():
    out = subprocess.run([sys.executable, "-c", "import rotel, os; print(os.path.join("
                          "os.path.dirname(rotel.__file__), 'rotel-agent'))"],
                         capture_output=True, text=True)
    if out.returncode != 0:
        sys.exit("rotel is missing: pip install rotel==0.0.1a15")
    return out.stdout.strip()


def otlp_compare(cap, binary, port, loops):
    """Agent CPU per packet with the OTLP push (every 10 s, into rotel) vs without."""
    rotel = subprocess.Popen(["ip", "netns", "exec", NS, rotel_agent(), "start",
                              "--otlp-grpc-endpoint", "127.0.0.1:4317", "--exporter", "blackhole"],
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(1.5)
    try:
        res = {}
        # ABBA order against drift; medians per mode (this shared machine is noisy).
        order = ["off", "on", "on", "off", "off", "on", "on", "off"]
        for i, mode in enumerate(order):
            name = f"{mode}{i}"
            endpoint = "http://127.0.0.1:4317" if mode == "on" else None
            sent, secs, counted, drops, lat, hwm, rc, stop, cpu = agent_run(cap, binary, port, endpoint, loops)
            res[name] = (sent, counted, cpu)
            print(f"  OTLP {mode:3}: sent {sent} in {secs:.1f} s, counted {counted}, agent CPU {cpu:.2f} s "
                  f"({cpu / max(counted, 1) * 1e9:.0f} ns/packet), REST p99 {lat['p99']:.1f} ms, "
                  f"OTLP points sent {lat['otlp_points_sent']}")
            if endpoint and lat["otlp_points_sent"] == 0:
                print("  the push sent nothing: is rotel listening?")
                return False
        per = {k: v[2] / max(v[1], 1) for k, v in res.items()}
        off = statistics.median(v for k, v in per.items() if k.startswith("off"))
        on = statistics.median(v for k, v in per.items() if k.startswith("on"))
        ratio = on / off
        lost_on = sum(v[0] - v[1] for k, v in res.items() if k.startswith("on"))
        print(f"  OTLP push every 10 s: median CPU per packet on/off = {ratio:.3f} (target <= 1.03), "
              f"packets lost with the push on: {lost_on}")
        return ratio <= 1.03 and lost_on == 0
    finally:
        rotel.terminate()
        rotel.wait(timeout=10)


def reader_total(cap):
    """What pktvisor-reader counts on the capture (net's packet total)."""
    target = os.environ.get("CARGO_TARGET_DIR", os.path.join(ROOT, "target"))
    sh("cargo", "build", "--release", "--quiet", "--bin", "pktvisor-reader", cwd=ROOT)
    out = subprocess.run([os.path.join(target, "release", "pktvisor-reader"), "--periods", "1", cap],
                         capture_output=True, text=True, check=True)
    return json.loads(out.stdout)["1m"]["packets"]["total"]


def af_packet_compare(cap, binary, port, a):
    """AF_PACKET with one ring, then a fanout of two rings: loss and counts vs the reader."""
    cfg = os.path.join(a.dir, "af_packet.yaml")
    with open(cfg, "w") as f:
        f.write(AF_PACKET_POLICY)
    want = reader_total(cap)
    ok = True
    for workers in (1, 2):
        sent, secs, counted, drops, lat, hwm, rc, stop, cpu = agent_run(
            cap, binary, port, None, 1, ("--config", cfg, "--workers", str(workers)))
        print(f"  AF_PACKET --workers {workers}: sent {sent} in {secs:.2f} s ({sent / secs / 1e3:.0f} k packets/s), "
              f"counted {counted} (reader: {want}), kernel drops {drops}, lost {sent - counted}, "
              f"agent CPU {cpu:.2f} s, peak RSS {hwm / 1024:.1f} MiB")
        if workers == 2:
            ok &= counted == sent == want and rc == 0
    return ok


def main():
    if os.geteuid() != 0:
        sys.exit("needs root (network namespaces)")
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--transactions", type=int, default=600000)
    ap.add_argument("--dir", default="/tmp/pktvisor-bench")
    ap.add_argument("--port", type=int, default=10853)
    ap.add_argument("--otlp", action="store_true",
                    help="issue 5: also run with an OTLP push every 10 s into rotel (blackhole exporter) "
                         "and compare the agent's CPU per packet with the push off")
    ap.add_argument("--loops", type=int, default=5, help="replays per OTLP comparison run")
    ap.add_argument("--af-packet", action="store_true",
                    help="issue 14: AF_PACKET capture with 1 and 2 workers (fanout) against the reader's count")
    a = ap.parse_args()
    os.makedirs(a.dir, exist_ok=True)
    cap = os.path.join(a.dir, f"dns_{a.transactions}.pcap")
    if not os.path.exists(cap + ".truth.json"):
        print(f"generating {cap} ...", file=sys.stderr, flush=True)
        sh(sys.executable, GEN, "-o", cap, "-n", str(a.transactions), stdout=subprocess.DEVNULL)
    target = os.environ.get("CARGO_TARGET_DIR", os.path.join(ROOT, "target"))
    sh("cargo", "build", "--release", "--quiet", "--bin", "pktvisord", cwd=ROOT)
    binary = os.path.join(target, "release", "pktvisord")
    setup()
    try:
        sent, secs, captured, dropped = tcpdump_baseline(cap)
        print(f"capture: {cap}")
        print(f"  tcpdump -i veth1 -w /dev/null: sent {sent} in {secs:.2f} s ({sent / secs / 1e3:.0f} k packets/s), "
              f"captured {captured}, dropped by kernel {dropped}")
        sent2, secs2, counted, drops, lat, hwm, rc, stop, _ = agent_run(cap, binary, a.port, None)
        print(f"  pktvisord veth1 (default policy): sent {sent2} in {secs2:.2f} s ({sent2 / secs2 / 1e3:.0f} k packets/s), "
              f"counted {counted}, kernel drops {drops}, lost {sent2 - counted}")
        print(f"  REST during replay: {lat['n']} requests, p50 {lat['p50']:.1f} ms, p99 {lat['p99']:.1f} ms, "
              f"max {lat['max']:.1f} ms")
        print(f"  agent peak RSS {hwm / 1024:.1f} MiB; SIGTERM → exit {rc} in {stop:.2f} s")
        ok = (sent2 - counted) <= (sent - captured) and counted + drops >= sent2 and lat["p99"] < 50 and rc == 0
        if a.otlp:
            ok &= otlp_compare(cap, binary, a.port, a.loops)
        if a.af_packet:
            ok &= af_packet_compare(cap, binary, a.port, a)
        print("targets met" if ok else "TARGETS MISSED")
        return 0 if ok else 1
    finally:
        sh("ip", "netns", "del", NS, check=False)


if __name__ == "__main__":
    sys.exit(main())
