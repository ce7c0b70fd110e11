#!/usr/bin/env python3
"""Issue 6 target through the agent: `fstrm_replay` at full speed into pktvisord's dnstap
unix socket loses nothing (frames sent = messages counted by the dns handler).

Uses the unbound recording of benches/dnstap_bench.py (made with unbound + dnsperf when
missing: run that script once), starts the release pktvisord with a dnstap socket tap and
a dns policy, replays the file with fstrm_replay, and prints frames sent, messages the
listener and the dns handler counted, the replay rate and the agent's peak RSS.

  benches/agent_dnstap_bench.py [--file F] [--dir DIR]
"""
import argparse
import json
import os
import subprocess
import sys
import time
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def get(port, path):
    with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=10) as r:
        return json.loads(r.read())


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--dir", default="/tmp/pktvisor-bench")
    ap.add_argument("--file", default=None)
    ap.add_argument("--port", type=int, default=10863)
    a = ap.parse_args()
    path = a.file or os.path.join(a.dir, "unbound_10s_20000qps.dnstap")
    if not os.path.exists(path):
        sys.exit(f"{path} is missing: run benches/dnstap_bench.py --runs 1 first")
    frames = int(subprocess.run(["sh", "-c", f"dnstap -r {path} -q | wc -l"], capture_output=True,
                                text=True).stdout.strip() or 0)
    target = os.environ.get("CARGO_TARGET_DIR", os.path.join(ROOT, "target"))
    subprocess.run(["cargo", "build", "--release", "--quiet", "--bin", "pktvisord"], cwd=ROOT, check=True)
    sock = os.path.join(a.dir, "agent-bench-dnstap.sock")
    cfg = os.path.join(a.dir, "agent-dnstap.yaml")
    with open(cfg, "w") as f:
        f.write(f"""visor:
  taps:
    resolver: {{input_type: dnstap, config: {{socket: "{sock}"}}}}
  policies:
    dns:
      kind: collection
      input: {{tap: resolver, input_type: dnstap}}
      handlers: {{modules: {{dns: {{type: dns}}}}}}
""")
    agent = subprocess.Popen([os.path.join(target, "release", "pktvisord"), "--config", cfg,
                              "-l", "127.0.0.1", "-p", str(a.port)],
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _ in range(100):
            try:
                if get(a.port, "/readyz")["ready"]:
                    break
            except Exception:
                pass
            time.sleep(0.1)
        t0 = time.perf_counter()
        subprocess.run(["fstrm_replay", "-t", "protobuf:dnstap.Dnstap", "-r", path, "-u", sock], check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        sent_secs = time.perf_counter() - t0
        counted = last = -1
        for _ in range(200):
            v = get(a.port, "/api/v1/policies/dns/metrics/bucket/0")
            counted = v["dns"]["dns-resolver-dns"]["dns"]["wire_packets"]["total"]
            if counted == last and counted >= frames:
                break
            last = counted
            time.sleep(0.2)
        info = get(a.port, "/api/v1/policies/dns")["dns"]["input"]
        listener = next(iter(info.values())).get("dnstap", {})
        with open(f"/proc/{agent.pid}/status") as f:
            hwm = [int(l.split()[1]) for l in f if l.startswith("VmHWM:")][0]
        print(f"file: {path} ({frames} messages)")
        print(f"  fstrm_replay → pktvisord unix socket: {frames} frames sent in {sent_secs:.2f} s "
              f"({frames / sent_secs / 1e3:.0f} k frames/s)")
        print(f"  listener messages {listener.get('messages')}, dropped {listener.get('dropped_messages')}, "
              f"backpressure waits {listener.get('backpressure_waits')}; dns handler counted {counted}")
        print(f"  agent peak RSS {hwm / 1024:.1f} MiB")
        ok = counted == frames and listener.get("dropped_messages") == 0
        print("target met (nothing lost)" if ok else "TARGET MISSED")
        return 0 if ok else 1
    finally:
        agent.terminate()
        agent.wait(timeout=10)


if __name__ == "__main__":
    sys.exit(main())
