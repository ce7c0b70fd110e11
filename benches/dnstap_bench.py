#!/usr/bin/env python3
"""dnstap benchmarks, measured in one run (issue 6).

1. File: `pktvisor-reader -i dnstap FILE` (default handlers net + dns, and a dns-only
   policy) against every dnstap reader installed here on the same file: golang-dnstap
   `dnstap -r FILE -q`, `dnstap-ldns -r FILE -q`, BIND's `dnstap-read FILE` (outputs to
   /dev/null). Target: the reader at least 2x faster (messages/s) than the fastest of them.
2. Socket: `fstrm_replay -t protobuf:dnstap.Dnstap -r FILE -u SOCK` at full speed into our
   unix-socket listener with a counting consumer (examples/dnstap_count.rs). Target: frames
   sent = messages counted (nothing lost); the rate is reported.

The file is made once (kept in --dir) by unbound answering dnsperf from local zones for
--seconds at --qps inside a throwaway network namespace, logging client queries and
responses over bidirectional Frame Streams to fstrm_capture: fixtures/dnstap/
unbound-dnstap.conf.in with the zones and queries of fixtures/dns/gen_data.py, as in the
bench recipe (../shared/bench/recipes). Making it needs root; reading it does not.

  benches/dnstap_bench.py [--seconds 10] [--qps 20000] [--runs 3] [--dir DIR]
"""
import argparse
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DNS_ONLY = """visor:
  taps:
    t: {input_type: dnstap, config: {socket: /nonexistent.sock}}
  policies:
    p:
      kind: collection
      input: {tap: t, input_type: dnstap}
      handlers:
        modules:
          dns: {type: dns}
"""


def wait_for(pred, secs=10.0):
    end = time.time() + secs
    while time.time() < end:
        if pred():
            return True
        time.sleep(0.1)
    return False


def make_file(path, seconds, qps):
    """Records unbound's dnstap output for `seconds` of dnsperf at `qps`."""
    for tool in ["ip", "ss", "unbound", "dnsperf", "fstrm_capture"]:
        if shutil.which(tool) is None:
            sys.exit(f"{tool} is needed to make the file")
    if os.geteuid() != 0:
        sys.exit("making the dnstap file needs root (network namespace)")
    ns = f"pvdtbench{os.getpid()}"
    work = tempfile.mkdtemp(prefix="pvdtbench.")
    procs = []
    try:
        subprocess.run(["ip", "netns", "add", ns], check=True)
        subprocess.run(["ip", "-n", ns, "link", "set", "lo", "up"], check=True)
        subprocess.run([sys.executable, os.path.join(ROOT, "fixtures/dns/gen_data.py"), work], check=True)
        conf = open(os.path.join(ROOT, "fixtures/dnstap/unbound-dnstap.conf.in")).read()
        open(os.path.join(work, "unbound.conf"), "w").write(conf.replace("@WORK@", work))
        sock = os.path.join(work, "dnstap.sock")
        cap = subprocess.Popen(["fstrm_capture", "-t", "protobuf:dnstap.Dnstap", "-u", sock, "-w", path],
                               stderr=subprocess.DEVNULL)
        procs.append(cap)
        wait_for(lambda: os.path.exists(sock))
        ub = subprocess.Popen(["ip", "netns", "exec", ns, "unbound", "-d", "-c",
                               os.path.join(work, "unbound.conf")], stderr=subprocess.DEVNULL)
        procs.append(ub)

        def ready():
            return bool(subprocess.run(["ip", "netns", "exec", ns, "ss", "-Hlun", "sport = :53"],
                                       capture_output=True).stdout.strip())
        if not wait_for(ready, 20):
            sys.exit("unbound did not start")
        time.sleep(1.5)  # its dnstap connection comes up next
        out = subprocess.run(["ip", "netns", "exec", ns, "dnsperf", "-s", "127.0.0.1", "-d",
                              os.path.join(work, "perf-queries.txt"), "-l", str(seconds),
                              "-Q", str(qps), "-c", "4"], capture_output=True, text=True, check=True)
        lost = [l for l in out.stdout.splitlines() if "Queries lost" in l]
        print(f"dnsperf: {lost[0].strip() if lost else out.stdout[-300:]}", file=sys.stderr)
        time.sleep(3)
        ub.send_signal(signal.SIGTERM)
        ub.wait(timeout=20)
        time.sleep(0.5)
        cap.send_signal(signal.SIGINT)
        cap.wait(timeout=20)
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
        subprocess.run(["ip", "netns", "del", ns], stderr=subprocess.DEVNULL)
        shutil.rmtree(work, ignore_errors=True)


def count_frames(path):
    """Data frames of a Frame Streams file (parsed here, independently of our reader)."""
    d = open(path, "rb").read()
    i = n = 0
    while i + 4 <= len(d):
        length = int.from_bytes(d[i:i + 4], "big")
        if length == 0:
            i += 8 + int.from_bytes(d[i + 4:i + 8], "big")
            continue
        if i + 4 + length > len(d):
            break
        n += 1
        i += 4 + length
    return n


def measure(cmd):
    start = time.perf_counter()
    proc = subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    wall = time.perf_counter() - start
    if proc.returncode != 0:
        sys.exit(f"command failed: {' '.join(cmd)}\n{proc.stderr.decode(errors='replace')[-2000:]}")
    return wall


def build(target):
    subprocess.run(["cargo", "build", "--release", "--quiet", "--bin", "pktvisor-reader",
                    "--example", "dnstap_count"], cwd=ROOT, check=True)
    return (os.path.join(target, "release", "pktvisor-reader"),
            os.path.join(target, "release", "examples", "dnstap_count"))


def replay(counter, path, frames, tmp):
    sock = os.path.join(tmp, "bench.sock")
    lst = subprocess.Popen([counter, "--unix", sock, "--expect", str(frames), "--idle-exit", "10"],
                           stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        if not wait_for(lambda: os.path.exists(sock)):
            sys.exit("listener did not start")
        start = time.perf_counter()
        subprocess.run(["fstrm_replay", "-t", "protobuf:dnstap.Dnstap", "-r", path, "-u", sock], check=True)
        sent_wall = time.perf_counter() - start
        out, _ = lst.communicate(timeout=60)
    finally:
        if lst.poll() is None:
            lst.kill()
            lst.wait()
    import json
    res = json.loads(out.strip().splitlines()[-1])
    return sent_wall, res


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seconds", type=int, default=10)
    ap.add_argument("--qps", type=int, default=20000)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--dir", default="/tmp/pktvisor-bench")
    a = ap.parse_args()
    os.makedirs(a.dir, exist_ok=True)
    path = os.path.join(a.dir, f"unbound_{a.seconds}s_{a.qps}qps.dnstap")
    if not os.path.exists(path):
        print(f"recording {path} ...", file=sys.stderr, flush=True)
        make_file(path + ".tmp", a.seconds, a.qps)
        os.replace(path + ".tmp", path)
    frames = count_frames(path)
    target = os.environ.get("CARGO_TARGET_DIR", os.path.join(ROOT, "target"))
    reader, counter = build(target)
    cfg = os.path.join(a.dir, "dnstap_dns_only.yaml")
    open(cfg, "w").write(DNS_ONLY)
    cmds = {}
    if shutil.which("dnstap"):
        cmds["dnstap -q (golang)"] = ["dnstap", "-r", path, "-q"]
    if shutil.which("dnstap-ldns"):
        cmds["dnstap-ldns -q"] = ["dnstap-ldns", "-r", path, "-q"]
    if shutil.which("dnstap-read"):
        cmds["dnstap-read (BIND)"] = ["dnstap-read", path]
    if not cmds:
        sys.exit("no other dnstap reader installed (golang-github-dnstap-golang-dnstap-cli, dnstap-ldns, bind9-utils)")
    others = list(cmds)
    cmds["pktvisor-reader -i dnstap"] = [reader, "-i", "dnstap", "--periods", "1", path]
    cmds["pktvisor-reader dns only"] = [reader, "--periods", "1", "--config", cfg, path]
    for c in cmds.values():
        measure(c)  # warm the page cache
    res = {k: [] for k in cmds}
    for _ in range(a.runs):
        for k, c in cmds.items():
            res[k].append(measure(c))
    print(f"file: {path} ({frames} messages, {os.path.getsize(path) / 2**20:.0f} MiB), "
          f"{a.runs} runs each, medians:")
    med = {}
    for k, walls in res.items():
        med[k] = statistics.median(walls)
        print(f"  {k:28} {med[k]:7.3f} s  {frames / med[k] / 1e3:8.0f} k messages/s")
    fastest = min(others, key=lambda k: med[k])
    ratio = med[fastest] / med["pktvisor-reader -i dnstap"]
    ratio_dns = med[fastest] / med["pktvisor-reader dns only"]
    print(f"  speed-up over the fastest other reader ({fastest}): {ratio:.2f}x with net+dns, "
          f"{ratio_dns:.2f}x dns only (target >= 2)")
    with tempfile.TemporaryDirectory(prefix="pvdtbench.") as tmp:
        sent_wall, got = replay(counter, path, frames, tmp)
    lost = frames - got["messages"]
    st = got["stats"]
    print(f"socket: fstrm_replay sent {frames} frames in {sent_wall:.3f} s ({frames / sent_wall / 1e3:.0f} k frames/s); "
          f"listener counted {got['messages']} messages ({got['rate'] / 1e3:.0f} k/s between first and last), "
          f"lost {lost}, backpressure waits {st['backpressure_waits']}, disconnects "
          f"{ {k: v for k, v in st['disconnects'].items() if v} }")
    ok = ratio >= 2.0 and lost == 0 and st["dropped_messages"] == 0
    print("targets met" if ok else "TARGETS MISSED")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
