#!/usr/bin/env python3
"""Requests /api/v1/metrics/bucket/0 and /metrics of a local pktvisord in a loop until
SIGINT, then prints the latency quantiles (ms) as JSON. Used by agent_bench.py inside its
network namespace: `http_probe.py PORT`."""
import json
import signal
import sys
import time
import urllib.request

stop = False


def on_int(*_):
    global stop
    stop = True


signal.signal(signal.SIGINT, on_int)
port = int(sys.argv[1])
paths = ["/api/v1/metrics/bucket/0", "/metrics"]
lat = []
i = 0
while not stop:
    url = f"http://127.0.0.1:{port}{paths[i % 2]}"
    i += 1
    t0 = time.perf_counter()
    try:
        with urllib.request.urlopen(url, timeout=10) as r:
            r.read()
    except Exception:
        continue
    lat.append((time.perf_counter() - t0) * 1000)
    time.sleep(0.02)
lat.sort()


def q(p):
    return lat[min(len(lat) - 1, int(p * len(lat)))] if lat else float("nan")


print(json.dumps({"n": len(lat), "p50": q(0.5), "p99": q(0.99), "max": lat[-1] if lat else float("nan")}))
