#!/usr/bin/env python3
"""Burst benchmark of the flow UDP listener (issue 7's target: a burst replay of a NetFlow v9
+ IPFIX capture to the UDP port is ingested without loss, where nfcapd with its defaults
loses much of it).

Generates the capture with benches/gen_flow_pcap.py (default 1,000,000 records in 33,334
datagrams, two exporters) unless it exists, builds the release examples `flow_listen` (a
FlowUdpListener feeding the decoder and the flow processor with its default groups) and
`flow_replay` (sends the capture's UDP payloads over loopback as fast as it can, each
exporter from its own 127.0.0.x address), then, on 127.0.0.1 only:

  1. ours: flow_listen with its defaults (32 MiB socket buffer, waits for the consumer);
  2. ours with the system's default socket buffer (net.core.rmem_default), to show what the
     buffer is worth;
  3. nfcapd with its defaults (`nfcapd -b 127.0.0.1 -p PORT -w DIR`), its store read back
     with `nfdump -R DIR -I`.

and prints datagrams sent and received, records decoded (or stored) and the losses of each,
and the ratio of ours to nfcapd, all from the same run.

  benches/flow_burst.py [--records N] [--dir DIR] [--port P]
"""
import argparse
import json
import os
import shutil
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def run_ours(listen, replay, cap, port, extra):
    proc = subprocess.Popen([listen, "--port", str(port), "--idle-ms", "1500"] + extra,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    line = proc.stderr.readline()
    if "listening" not in line:
        proc.kill()
        sys.exit(f"flow_listen did not start: {line}{proc.stderr.read()}")
    sent = json.loads(subprocess.run([replay, cap, "--to", f"127.0.0.1:{port}"],
                                     check=True, capture_output=True, text=True).stdout)
    out, err = proc.communicate(timeout=300)
    if proc.returncode != 0:
        sys.exit(f"flow_listen failed: {err}")
    return sent, json.loads(out)


def run_nfcapd(replay, cap, port, store):
    shutil.rmtree(store, ignore_errors=True)
    os.makedirs(store)
    log = open(store + ".log", "w")
    proc = subprocess.Popen(["nfcapd", "-b", "127.0.0.1", "-p", str(port), "-w", store],
                            stdout=log, stderr=subprocess.STDOUT)
    time.sleep(1.0)
    sent = json.loads(subprocess.run([replay, cap, "--to", f"127.0.0.1:{port}"],
                                     check=True, capture_output=True, text=True).stdout)
    time.sleep(2.0)
    proc.terminate()  # nfcapd flushes its file on SIGTERM
    proc.wait(timeout=30)
    info = subprocess.run(["nfdump", "-R", store, "-I"], capture_output=True, text=True).stdout
    stat = dict(l.split(": ", 1) for l in info.splitlines() if ": " in l)
    return sent, int(stat.get("Flows", "0"))


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--records", type=int, default=1_000_000)
    p.add_argument("--dir", default="/tmp/pktvisor-bench")
    p.add_argument("--port", type=int, default=29955)
    a = p.parse_args()
    os.makedirs(a.dir, exist_ok=True)
    cap = os.path.join(a.dir, f"flows_{a.records}.pcap")
    if not os.path.exists(cap):
        subprocess.run([sys.executable, os.path.join(ROOT, "benches", "gen_flow_pcap.py"),
                        "-o", cap, "-n", str(a.records)], check=True)
    subprocess.run(["cargo", "build", "--release", "--quiet", "--example", "flow_listen",
                    "--example", "flow_replay"], cwd=ROOT, check=True)
    target = os.environ.get("CARGO_TARGET_DIR", os.path.join(ROOT, "target"))
    listen = os.path.join(target, "release", "examples", "flow_listen")
    replay = os.path.join(target, "release", "examples", "flow_replay")
    rmem_default = int(open("/proc/sys/net/core/rmem_default").read())

    rows = []
    for name, extra in [("ours (32 MiB buffer)", []),
                        (f"ours ({rmem_default} B buffer)", ["--rcvbuf", str(rmem_default)])]:
        sent, got = run_ours(listen, replay, cap, a.port, extra)
        l = got["listener"]
        rows.append((name, sent, l["datagrams"], got["records"],
                     f"kernel drops {l['kernel_drops']}, queue drops {l['queue_drops']}, "
                     f"effective buffer {l['rcvbuf_effective']} B"))
    have_nfcapd = shutil.which("nfcapd") and shutil.which("nfdump")
    if have_nfcapd:
        sent, flows = run_nfcapd(replay, cap, a.port + 1, os.path.join(a.dir, "nfcapd-burst"))
        rows.append(("nfcapd (defaults)", sent, None, flows, "records = flows stored"))
    else:
        print("note: nfcapd/nfdump missing (apt package nfdump): no comparison")

    print(f"capture: {cap} ({a.records} records, NetFlow v9 + IPFIX), burst over loopback")
    for name, sent, dgrams, records, note in rows:
        rate = sent["datagrams"] / sent["seconds"] if sent["seconds"] else 0
        recv = "" if dgrams is None else f"received {dgrams:6d} datagrams, "
        print(f"{name:28s} sent {sent['datagrams']} datagrams in {sent['seconds']:.3f} s "
              f"({rate / 1000:.0f} k/s); {recv}records {records:7d} "
              f"= {100 * records / a.records:6.2f} % ({note})")
    if have_nfcapd:
        ours, nf = rows[0][3], rows[-1][3]
        print(f"records kept, ours / nfcapd: x{ours / max(nf, 1):.2f}; "
              f"loss ours {a.records - ours} ({100 * (a.records - ours) / a.records:.2f} %), "
              f"nfcapd {a.records - nf} ({100 * (a.records - nf) / a.records:.2f} %)")


if __name__ == "__main__":
    main()
