#!/usr/bin/env python3
"""Whole-process benchmark of pktvisord's netprobe input (issue 13), needs root.

In a throwaway network namespace (only its loopback is up, so nothing leaves it), runs
pktvisord with one netprobe tap of N targets (default 1,000: 127.0.0.1, 127.0.0.2, …,
each its own target, the kernel answering) probed every INTERVAL ms (default 1,000),
waits WARMUP seconds, then measures SECONDS seconds:

  - probes per second (sum of the targets' attempts in the policy's window),
  - the agent's CPU time over the measurement (utime + stime of the whole process, from
    /proc/PID/stat), as % of one core and per probe,
  - the agent's RSS at the end and its peak (VmRSS, VmHWM),

and the same for an agent with no netprobe policy (the idle baseline), so the cost of the
probes is the difference. Goals: under 5 % of one core and under 64 MiB RSS for 1,000
targets at 1 s.

  sudo benches/netprobe_bench.py [--targets N] [--interval MS] [--seconds S]
                                 [--test ping|tcp] [--agent PATH]

`--test tcp` connects to a listener on the namespace's loopback (a python accept loop).
The agent defaults to $CARGO_TARGET_DIR/release/pktvisord (else target/release/pktvisord);
build it first with `cargo build --release --bin pktvisord`.
"""
import argparse
import ipaddress
import json
import os
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
NS = f"pvnpbench{os.getpid()}"
TICK = os.sysconf("SC_CLK_TCK")


def sh(*args, check=True, **kw):
    return subprocess.run(list(args), check=check, **kw)


def ns(*args, **kw):
    return sh("ip", "netns", "exec", NS, *args, **kw)


def cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK


def mem_kib(pid):
    out = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            k, _, v = line.partition(":")
            if k in ("VmRSS", "VmHWM"):
                out[k] = int(v.split()[0])
    return out


def get(port, path):
    out = ns("curl", "-s", "-m", "20", f"http://127.0.0.1:{port}{path}", capture_output=True,
             text=True, check=False)
    return out.stdout


def config(targets, interval, test, port):
    lines = ["version: \"1.0\"", "visor:", "  taps:", "    probes:",
             "      input_type: netprobe", "      config:",
             f"        test_type: {test}", f"        interval_msec: {interval}",
             f"        timeout_msec: {min(interval, 1000)}", "        targets:"]
    base = ipaddress.ip_address("127.0.0.1")
    for i in range(targets):
        extra = f", port: {port}" if test == "tcp" else ""
        lines.append(f"          t{i}: {{target: {base + i}{extra}}}")
    lines += ["  policies:", "    bench:", "      kind: collection",
              "      input: {tap: probes, input_type: netprobe}",
              "      handlers: {modules: {np: {type: netprobe}}}"]
    return "\n".join(lines) + "\n"


LISTENER = """
import socket, sys
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("0.0.0.0", int(sys.argv[1])))
s.listen(4096)
while True:
    c, _ = s.accept()
    c.close()
"""


def tcp_listener(port):
    """Accepts and closes connections on `port` inside the namespace."""
    p = subprocess.Popen(["ip", "netns", "exec", NS, sys.executable, "-c", LISTENER, str(port)])
    time.sleep(1)
    return p


def run_agent(agent, cfg_text, warmup, seconds):
    port = 10853 + os.getpid() % 1000
    with tempfile.NamedTemporaryFile("w", suffix=".yaml", delete=False) as f:
        f.write(cfg_text)
        path = f.name
    args = ["ip", "netns", "exec", NS, agent, "-l", "127.0.0.1", "-p", str(port)]
    args += ["--config", path] if cfg_text else ["--admin-api"]
    p = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.time() + 20
        while time.time() < deadline and not get(port, "/healthz"):
            time.sleep(0.2)
        time.sleep(warmup)
        attempts0 = attempts(port) if cfg_text else 0
        c0, t0 = cpu_seconds(p.pid), time.time()
        time.sleep(seconds)
        c1, t1 = cpu_seconds(p.pid), time.time()
        mem = mem_kib(p.pid)
        result = {"cpu_s": c1 - c0, "wall_s": t1 - t0, "rss_kib": mem.get("VmRSS", 0),
                  "hwm_kib": mem.get("VmHWM", 0)}
        if cfg_text:
            totals = window_totals(port)
            result["probes"] = attempts(port) - attempts0
            result.update(totals)
            result["info"] = json.loads(get(port, "/api/v1/policies/bench"))["bench"]["input"]
        return result
    finally:
        p.terminate()
        p.wait(timeout=30)
        os.unlink(path)


def targets_of(port):
    v = json.loads(get(port, "/api/v1/policies/bench/metrics/window/5") or "{}")
    return v.get("bench", {}).get("bench-probes-np", {}).get("netprobe", {}).get("targets", {})


def attempts(port):
    return sum(t.get("attempts", 0) for t in targets_of(port).values())


def window_totals(port):
    t = targets_of(port)
    keys = ("attempts", "successes", "packets_timeout", "connect_failures")
    out = {k: sum(x.get(k, 0) for x in t.values()) for k in keys}
    out["targets_seen"] = len(t)
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--targets", type=int, default=1000)
    ap.add_argument("--interval", type=int, default=1000, help="interval_msec")
    ap.add_argument("--seconds", type=float, default=60)
    ap.add_argument("--warmup", type=float, default=10)
    ap.add_argument("--test", choices=["ping", "tcp"], default="ping")
    default_agent = os.path.join(os.environ.get("CARGO_TARGET_DIR", os.path.join(ROOT, "target")),
                                 "release", "pktvisord")
    ap.add_argument("--agent", default=default_agent)
    a = ap.parse_args()
    if os.geteuid() != 0:
        sys.exit("needs root (network namespace)")
    if not os.path.exists(a.agent):
        sys.exit(f"{a.agent} missing: cargo build --release --bin pktvisord")
    sh("ip", "netns", "add", NS)
    listener = None
    try:
        ns("ip", "link", "set", "lo", "up")
        port = 0
        if a.test == "tcp":
            port = 20000 + os.getpid() % 10000
            listener = tcp_listener(port)
        idle = run_agent(a.agent, "", a.warmup, a.seconds)
        busy = run_agent(a.agent, config(a.targets, a.interval, a.test, port), a.warmup, a.seconds)
    finally:
        if listener:
            listener.kill()
            listener.wait()
        sh("ip", "netns", "del", NS, check=False)
    rate = busy["probes"] / busy["wall_s"]
    cpu_busy = 100 * busy["cpu_s"] / busy["wall_s"]
    cpu_idle = 100 * idle["cpu_s"] / idle["wall_s"]
    per_probe_us = 1e6 * (busy["cpu_s"] - idle["cpu_s"] * busy["wall_s"] / idle["wall_s"]) / max(busy["probes"], 1)
    print(f"netprobe {a.test}: {a.targets} targets every {a.interval} ms, measured {busy['wall_s']:.0f} s")
    print(f"  probes/s            {rate:10.1f}   (expected {a.targets * 1000 / a.interval:.0f})")
    print(f"  window totals       attempts={busy['attempts']} successes={busy['successes']} "
          f"timeouts={busy['packets_timeout']} connect_failures={busy['connect_failures']} "
          f"targets={busy['targets_seen']}")
    print(f"  agent CPU           {cpu_busy:10.2f} % of one core   (idle agent: {cpu_idle:.2f} %)")
    print(f"  CPU per probe       {per_probe_us:10.1f} µs (above the idle agent)   goal: 5 % of a core = "
          f"{50_000 / max(rate, 1):.0f} µs at this rate")
    print(f"  agent RSS           {busy['rss_kib'] / 1024:10.1f} MiB (peak {busy['hwm_kib'] / 1024:.1f} MiB; "
          f"idle agent {idle['rss_kib'] / 1024:.1f} MiB)   goal: < 64 MiB")
    probes = busy["info"]
    for v in probes.values():
        if "netprobe" in v:
            print(f"  input info          {json.dumps(v['netprobe'], sort_keys=True)}")
    ok = cpu_busy < 5.0 and busy["rss_kib"] < 64 * 1024
    print("  goals met" if ok else "  GOALS NOT MET")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
