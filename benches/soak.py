#!/usr/bin/env python3
"""Soak test of pktvisord under attack and churn (issue 18), one run, needs root.

In a throwaway network namespace, runs the agent for a set time with:

  * continuous replay of a DNS capture into a veth pair (tcpreplay at a fixed rate) that a
    libpcap tap captures (policy `wire`: net, dns);
  * a good sFlow exporter (one agent address, fixed rate) on its own flow tap, and a good
    dnstap sender (fstrm_replay of a recording every 20 s) on a dnstap unix socket;
  * hostile senders beside them: sFlow datagrams from ever new agent addresses and NetFlow
    v9 template floods from ever new observation domains (on their own flow taps), and on
    the good dnstap socket itself hundreds of senders that go idle after START, senders
    that start 1 MiB frames and never finish them, and garbage;
  * REST polling (app, readyz, every policy's bucket 0 and window, /metrics, the __all
    Prometheus text, policy info) and policy churn through the admin API (with a token):
    a policy created and the previous one deleted every few seconds.

RSS of the agent is sampled every few seconds. The report gives RSS after the warm-up
(first and last minute, minimum, maximum) and its growth (goal: flat within 10%), what the
good streams sent and what the agent counted of them (goal: nothing lost), the REST
latencies, the churn and what the budgets refused.

  sudo benches/soak.py [--minutes 20] [--warmup 6] [--binary PATH] [--json OUT]
"""
import argparse
import json
import os
import random
import re
import signal
import socket
import statistics
import struct
import subprocess
import sys
import threading
import time
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SHARED = os.environ.get("PKTVISOR_SHARED_DIR", os.path.join(ROOT, "..", "shared"))
NS = f"pvsoak{os.getpid()}"
TOKEN = "soak-token-" + os.urandom(6).hex()
API = 10853
PORTS = {"good_sflow": 6343, "bad_sflow": 6344, "bad_netflow": 2055}
STOP = threading.Event()


def sh(*args, check=True, **kw):
    return subprocess.run(list(args), check=check, **kw)


def udp_payloads(path):
    """UDP payloads of a little-endian microsecond pcap with Ethernet frames."""
    with open(path, "rb") as f:
        d = f.read()
    off, out = 24, []
    while off + 16 <= len(d):
        incl = struct.unpack("<I", d[off + 8:off + 12])[0]
        frame = d[off + 16:off + 16 + incl]
        off += 16 + incl
        if frame[12:14] != b"\x08\x00":
            continue
        ip = frame[14:]
        ihl = (ip[0] & 15) * 4
        if ip[9] == 17:
            out.append(ip[ihl + 8:])
    return out


def fstrm_data_frames(path):
    """Data frames of a Frame Streams file."""
    with open(path, "rb") as f:
        d = f.read()
    i, n = 0, 0
    while i + 4 <= len(d):
        length = struct.unpack(">I", d[i:i + 4])[0]
        if length == 0:
            clen = struct.unpack(">I", d[i + 4:i + 8])[0]
            i += 8 + clen
        else:
            n += 1
            i += 4 + length
    return n


class Agent:
    def __init__(self, binary, workdir):
        self.workdir = workdir
        self.sock = os.path.join(workdir, "dnstap.sock")
        token = os.path.join(workdir, "token")
        with open(token, "w") as f:
            f.write(TOKEN + "\n")
        os.chmod(token, 0o600)
        cfg = os.path.join(workdir, "soak.yaml")
        with open(cfg, "w") as f:
            f.write(f"""visor:
  config: {{admin_api: true, admin_token_file: {token}, host: 127.0.0.1, port: {API}}}
  taps:
    wire: {{input_type: pcap, config: {{iface: veth1, host_spec: "192.168.0.0/16,10.0.0.0/8"}}}}
    good_sflow: {{input_type: sflow, config: {{flow_type: sflow, bind: 127.0.0.1, port: {PORTS['good_sflow']}}}}}
    bad_sflow: {{input_type: sflow, config: {{flow_type: sflow, bind: 127.0.0.1, port: {PORTS['bad_sflow']}}}}}
    bad_netflow: {{input_type: flow, config: {{flow_type: netflow, bind: 127.0.0.1, port: {PORTS['bad_netflow']}}}}}
    dnstap: {{input_type: dnstap, config: {{socket: {self.sock}}}}}
  policies:
    wire: {{kind: collection, input: {{tap: wire, input_type: pcap}}, handlers: {{modules: {{net: {{type: net}}, dns: {{type: dns}}}}}}}}
    good_sflow: {{kind: collection, input: {{tap: good_sflow, input_type: flow}}, handlers: {{modules: {{f: {{type: flow}}}}}}}}
    bad_sflow: {{kind: collection, input: {{tap: bad_sflow, input_type: flow}}, handlers: {{modules: {{f: {{type: flow}}}}}}}}
    bad_netflow: {{kind: collection, input: {{tap: bad_netflow, input_type: flow}}, handlers: {{modules: {{f: {{type: flow}}}}}}}}
    dnstap: {{kind: collection, input: {{tap: dnstap, input_type: dnstap}}, handlers: {{modules: {{dns: {{type: dns, require_version: "2.0"}}}}}}}}
""")
        self.log = os.path.join(workdir, "agent.log")
        self.proc = subprocess.Popen([binary, "--config", cfg, "--log-file", self.log],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        deadline = time.time() + 30
        while True:
            try:
                if self.get("/readyz")[0] == 200:
                    break
            except OSError:
                pass
            if self.proc.poll() is not None or time.time() > deadline:
                raise SystemExit(f"pktvisord did not start: {self.proc.stderr.read().decode()}")
            time.sleep(0.2)

    def request(self, method, path, body=None, ctype=None, auth=False, timeout=15):
        req = urllib.request.Request(f"http://127.0.0.1:{API}{path}", data=body, method=method)
        if ctype:
            req.add_header("Content-Type", ctype)
        if auth:
            req.add_header("Authorization", f"Bearer {TOKEN}")
        try:
            with urllib.request.urlopen(req, timeout=timeout) as r:
                return r.status, r.read()
        except urllib.error.HTTPError as e:
            return e.code, e.read()

    def get(self, path):
        return self.request("GET", path)

    def rss_kib(self):
        with open(f"/proc/{self.proc.pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
        return 0

    def input_info(self, policy):
        st, body = self.get(f"/api/v1/policies/{policy}")
        v = json.loads(body)[policy]["input"]
        return next(iter(v.values()))


def looped(fn):
    def run(*a):
        while not STOP.is_set():
            try:
                fn(*a)
            except Exception as e:  # keep the soak going; count it
                ERRORS.append(f"{fn.__name__}: {e}")
                time.sleep(0.5)
    return run


ERRORS = []
COUNTS = {"replayed": 0, "good_sflow": 0, "good_dnstap_frames": 0, "bad_sflow": 0,
          "bad_netflow": 0, "dnstap_idle": 0, "dnstap_idle_cut": 0, "dnstap_partial": 0, "dnstap_partial_cut": 0, "dnstap_garbage": 0,
          "policies_created": 0, "policies_deleted": 0, "churn_errors": 0}
LAT = {}


@looped
def replay_wire(cap, pps):
    out = subprocess.run(["tcpreplay", "-q", f"--pps={pps}", "-i", "veth0", cap],
                         capture_output=True, text=True)
    m = re.search(r"Actual: (\d+) packets", out.stdout)
    if m:
        COUNTS["replayed"] += int(m.group(1))


@looped
def good_sflow(dg, rate):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    while not STOP.is_set():
        t = time.time()
        for _ in range(rate):
            s.sendto(dg, ("127.0.0.1", PORTS["good_sflow"]))
            COUNTS["good_sflow"] += 1
        time.sleep(max(0.0, 1 - (time.time() - t)))


@looped
def good_dnstap(agent, recording, frames):
    out = subprocess.run(["fstrm_replay", "-t", "protobuf:dnstap.Dnstap", "-r", recording,
                          "-u", agent.sock], capture_output=True, text=True)
    if out.returncode == 0:
        COUNTS["good_dnstap_frames"] += frames
    else:
        ERRORS.append(f"fstrm_replay: {out.stderr.strip()}")
    STOP.wait(20)


@looped
def bad_sflow(dg, rate):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    d = bytearray(dg)
    while not STOP.is_set():
        t = time.time()
        for _ in range(rate):
            d[8:12] = os.urandom(4)
            s.sendto(d, ("127.0.0.1", PORTS["bad_sflow"]))
            COUNTS["bad_sflow"] += 1
        time.sleep(max(0.0, 1 - (time.time() - t)))


def v9_templates(domain, templates=15, fields=1000):
    body = b""
    for t in range(templates):
        body += struct.pack(">HH", 256 + t, fields)
        body += b"".join(struct.pack(">HH", 1 + f % 60, 4) for f in range(fields))
    head = struct.pack(">HHIIII", 9, templates, 1000, int(time.time()), domain, domain)
    return head + struct.pack(">HH", 0, len(body) + 4) + body


@looped
def bad_netflow(rate):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    while not STOP.is_set():
        t = time.time()
        for _ in range(rate):
            s.sendto(v9_templates(random.getrandbits(32)), ("127.0.0.1", PORTS["bad_netflow"]))
            COUNTS["bad_netflow"] += 1
        time.sleep(max(0.0, 1 - (time.time() - t)))


def fstrm_control(kind, content_type=b"protobuf:dnstap.Dnstap"):
    fields = b""
    if content_type:
        fields = struct.pack(">II", 1, len(content_type)) + content_type
    return struct.pack(">III", 0, 4 + len(fields), kind) + fields


def started(path):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(5)
    s.connect(path)
    s.sendall(fstrm_control(4))  # READY
    s.recv(4096)  # ACCEPT
    s.sendall(fstrm_control(2))  # START
    return s


@looped
def dnstap_idlers(agent, n):
    conns = []
    while not STOP.is_set():
        while len(conns) < n and not STOP.is_set():
            try:
                conns.append(started(agent.sock))
                COUNTS["dnstap_idle"] += 1
            except OSError:
                COUNTS["dnstap_idle_cut"] += 1
                break
        alive = []
        for c in conns:
            c.setblocking(False)
            try:
                gone = c.recv(1) == b""
            except BlockingIOError:
                gone = False
            except OSError:
                gone = True
            (c.close() if gone else alive.append(c))
        conns = alive
        STOP.wait(2)
    for c in conns:
        c.close()


@looped
def dnstap_partials(agent, n):
    """n senders that start 1 MiB frames, send 600 KiB of them and wait: more than the
    partial-frame budget takes, so some are closed (expected, counted by the agent)."""
    conns = []
    for _ in range(n):
        try:
            c = started(agent.sock)
            c.sendall(struct.pack(">I", 1 << 20) + os.urandom(600 << 10))
            conns.append(c)
            COUNTS["dnstap_partial"] += 1
        except OSError:
            COUNTS["dnstap_partial_cut"] += 1
    STOP.wait(40)
    for c in conns:
        c.close()


@looped
def dnstap_garbage(agent):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.connect(agent.sock)
    s.sendall(os.urandom(random.randint(1, 4096)))
    COUNTS["dnstap_garbage"] += 1
    s.close()
    STOP.wait(1)


LIGHT = ["/api/v1/metrics/app", "/readyz", "/api/v1/policies/wire/metrics/prometheus",
         "/api/v1/policies/wire/metrics/bucket/0",
         "/api/v1/policies/dnstap/metrics/bucket/0", "/api/v1/policies/good_sflow/metrics/window/2"]
HEAVY = ["/api/v1/policies/bad_sflow/metrics/bucket/0", "/api/v1/policies/__all/metrics/window/2",
         "/api/v1/policies/__all/metrics/prometheus", "/api/v1/policies"]


@looped
def poll_rest(agent):
    """The light routes every second, the heavy ones (a thousand flow devices) every 10 s."""
    for n in range(10):
        for p in LIGHT + (HEAVY if n == 0 else []):
            t = time.time()
            st, _ = agent.get(p)
            LAT.setdefault(p, []).append(time.time() - t)
            # 425: a window not yet accumulated; 503: a churned policy's input still opening
            if st not in (200, 425, 503):
                ERRORS.append(f"GET {p}: {st}")
        if STOP.wait(1):
            return


@looped
def churn(agent):
    i = 0
    prev = None
    while not STOP.is_set():
        name = f"churn_{i}"
        doc = (f'version: "1.0"\nvisor:\n  policies:\n    {name}:\n      kind: collection\n'
               f'      input: {{tap: wire, input_type: pcap, filter: {{bpf: "udp port {1000 + i % 50}"}}}}\n'
               f'      handlers: {{modules: {{net: {{type: net}}, dns: {{type: dns}}}}}}\n').encode()
        created, body = agent.request("POST", "/api/v1/policies", doc, "application/x-yaml",
                                      auth=True)
        if created == 201:
            COUNTS["policies_created"] += 1
        else:
            COUNTS["churn_errors"] += 1
            ERRORS.append(f"POST {name}: {created} {body[:200]}")
        if prev:
            deleted, body = agent.request("DELETE", f"/api/v1/policies/{prev}", auth=True)
            if deleted == 200:
                COUNTS["policies_deleted"] += 1
            else:
                COUNTS["churn_errors"] += 1
                ERRORS.append(f"DELETE {prev}: {deleted} {body[:200]}")
        if created == 201:
            prev = name
        i += 1
        STOP.wait(3)


def inside(args):
    import resource
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    random.seed(18)
    workdir = args.workdir
    os.makedirs(workdir, exist_ok=True)
    agent = Agent(args.binary, workdir)
    sflow_dg = next(p for p in udp_payloads(os.path.join(ROOT, "fixtures/flow/pmacct-sflow.pcap"))
                    if p[:8] == b"\0\0\0\x05\0\0\0\x01")
    recording = os.path.join(ROOT, "fixtures/dnstap/unbound.dnstap")
    frames = fstrm_data_frames(recording)
    cap = os.path.join(ROOT, "fixtures/dns/dns-mixed.pcap")
    threads = [
        threading.Thread(target=replay_wire, args=(cap, args.pps)),
        threading.Thread(target=good_sflow, args=(sflow_dg, 200)),
        threading.Thread(target=good_dnstap, args=(agent, recording, frames)),
        threading.Thread(target=bad_sflow, args=(sflow_dg, 2000)),
        threading.Thread(target=bad_netflow, args=(20,)),
        threading.Thread(target=dnstap_idlers, args=(agent, 950)),
        threading.Thread(target=dnstap_partials, args=(agent, 120)),
        threading.Thread(target=dnstap_garbage, args=(agent,)),
        threading.Thread(target=poll_rest, args=(agent,)),
        threading.Thread(target=churn, args=(agent,)),
    ]
    for t in threads:
        t.daemon = True
        t.start()
    samples = []
    start = time.time()
    end = start + args.minutes * 60
    while time.time() < end and agent.proc.poll() is None:
        samples.append((time.time() - start, agent.rss_kib()))
        time.sleep(args.sample)
    STOP.set()
    for t in threads:
        t.join(timeout=60)
    time.sleep(3)
    alive = agent.proc.poll() is None
    report = {"minutes": args.minutes, "warmup_minutes": args.warmup, "agent_alive": alive,
              "sent": dict(COUNTS), "errors": ERRORS[:50], "error_count": len(ERRORS)}
    if alive:
        wire = agent.input_info("wire")
        good = agent.input_info("good_sflow")
        dt = agent.input_info("dnstap")
        listener = dt.get("dnstap", {})
        pcap_drops = wire.get("pcap", {})
        report["counted"] = {
            "wire_packets": wire["input"]["packets"],
            "wire_kernel": pcap_drops,
            "good_sflow_datagrams": good["input"]["packets"],
            "good_sflow_listener": good.get("flow", {}).get("listener", {}),
            "dnstap_frames": listener.get("data_frames"),
            "dnstap_messages": listener.get("messages"),
            "dnstap_listener": listener,
        }
        tables = {}
        for p in ["bad_sflow", "bad_netflow", "dnstap"]:
            v = json.loads(agent.get(f"/api/v1/policies/{p}")[1])[p]
            inp = next(iter(v["input"].values()))
            for t in inp["input"].get("tables", []):
                tables[f"{p}:{t['name']}"] = t
            for m in v["modules"].values():
                for t in m["metrics"]["tables"]:
                    tables[f"{p}:{t['name']}"] = t
        report["tables"] = tables
        report["http"] = {k: v for k, v in re.findall(
            r"^(pktvisord_http_\w+)(?:\{[^}]*\})? (\d+)$",
            agent.get("/api/v1/policies/__all/metrics/prometheus")[1].decode(), re.M)}
        agent.proc.send_signal(signal.SIGTERM)
        try:
            agent.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            agent.proc.kill()
    after = [(t, r) for t, r in samples if t >= args.warmup * 60]
    if after:
        # the first and last two minutes after the warm-up: RSS swings with every heavy read
        # (a window of a thousand flow devices every 10 s), so the median is what is judged;
        # the mean and the floor (minimum) are reported beside it
        first = [r for t, r in after if t < after[0][0] + 120]
        last = [r for t, r in after if t > after[-1][0] - 120]
        mib = lambda v: round(v / 1024, 1)
        pct = lambda a, b: round(100 * (b - a) / a, 1)
        med_f, med_l = statistics.median(first), statistics.median(last)
        report["rss_mib"] = {
            "at_start": mib(samples[0][1]),
            "first_2min_after_warmup": {"median": mib(med_f), "mean": mib(statistics.mean(first)),
                                        "min": mib(min(first)), "max": mib(max(first))},
            "last_2min": {"median": mib(med_l), "mean": mib(statistics.mean(last)),
                          "min": mib(min(last)), "max": mib(max(last))},
            "max_overall": mib(max(r for _, r in samples)),
            "growth_percent": pct(med_f, med_l),
            "mean_growth_percent": pct(statistics.mean(first), statistics.mean(last)),
            "floor_growth_percent": pct(min(first), min(last)),
        }
        per_min = {}
        for t, r in samples:
            per_min.setdefault(int(t // 60), []).append(r)
        report["rss_per_minute_mib"] = {
            m: [mib(min(v)), mib(statistics.median(v)), mib(max(v))] for m, v in per_min.items()}
    report["rest_latency_ms"] = {
        p: {"n": len(v), "p50": round(1000 * statistics.median(v), 1),
            "p99": round(1000 * sorted(v)[int(0.99 * (len(v) - 1))], 1),
            "max": round(1000 * max(v), 1)}
        for p, v in LAT.items() if v}
    report["rss_samples"] = [(round(t), r) for t, r in samples]
    verdict(report)
    with open(args.json, "w") as f:
        json.dump(report, f, indent=1)
    return report


def verdict(r):
    checks = {}
    rss = r.get("rss_mib")
    if rss:
        checks["rss flat within 10% after warm-up (median)"] = rss["growth_percent"] <= 10
    c = r.get("counted")
    if c:
        checks["wire: every replayed packet captured"] = (
            c["wire_packets"] >= r["sent"]["replayed"])
        checks["good sFlow: every datagram received"] = (
            c["good_sflow_datagrams"] == r["sent"]["good_sflow"])
        checks["good dnstap: every frame received and decoded"] = (
            c["dnstap_frames"] == r["sent"]["good_dnstap_frames"]
            and c["dnstap_messages"] == r["sent"]["good_dnstap_frames"])
    checks["agent alive"] = r["agent_alive"]
    r["checks"] = checks


def outside(args):
    if os.geteuid() != 0:
        raise SystemExit("needs root (network namespace)")
    for tool in ("tcpreplay", "fstrm_replay"):
        if subprocess.run(["which", tool], capture_output=True).returncode:
            raise SystemExit(f"{tool} is needed (scripts/setup-debian.sh --test)")
    sh("ip", "netns", "add", NS)
    try:
        ns = ["ip", "netns", "exec", NS]
        sh(*ns, "ip", "link", "add", "veth0", "type", "veth", "peer", "name", "veth1")
        for k in ("all", "default", "veth0", "veth1"):
            sh(*ns, "sysctl", "-qw", f"net.ipv6.conf.{k}.disable_ipv6=1")
        for d in ("lo", "veth0", "veth1"):
            sh(*ns, "ip", "link", "set", d, "up")
        cmd = ns + [sys.executable, os.path.abspath(__file__), "--inside",
                    "--minutes", str(args.minutes), "--warmup", str(args.warmup),
                    "--sample", str(args.sample), "--pps", str(args.pps),
                    "--binary", args.binary, "--json", args.json, "--workdir", args.workdir]
        sh(*cmd)
    finally:
        sh("ip", "netns", "del", NS, check=False)
    with open(args.json) as f:
        r = json.load(f)
    r.pop("rss_samples", None)
    print(json.dumps(r, indent=1))
    ok = all(r["checks"].values())
    print("soak:", "PASS" if ok else "FAIL", {k: v for k, v in r["checks"].items()})
    return 0 if ok else 1


def main():
    target = os.environ.get("CARGO_TARGET_DIR", os.path.join(ROOT, "target"))
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--minutes", type=float, default=20)
    ap.add_argument("--warmup", type=float, default=6,
                    help="minutes before RSS is judged (the 5-minute window fills)")
    ap.add_argument("--sample", type=float, default=5, help="seconds between RSS samples")
    ap.add_argument("--pps", type=int, default=2000, help="replay rate into the veth pair")
    ap.add_argument("--binary", default=os.path.join(target, "release", "pktvisord"))
    ap.add_argument("--json", default="/tmp/pktvisor-soak.json")
    ap.add_argument("--workdir", default=f"/tmp/pktvisor-soak-{os.getpid()}")
    ap.add_argument("--inside", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.inside:
        inside(args)
        return 0
    return outside(args)


if __name__ == "__main__":
    sys.exit(main())
