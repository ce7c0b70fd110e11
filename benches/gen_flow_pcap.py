#!/usr/bin/env python3
"""Writes a pcap of NetFlow v9 and IPFIX export datagrams for throughput benchmarks.

Two exporters (192.0.2.1 sends NetFlow v9, 192.0.2.2 sends IPFIX, both to 10.0.0.9:2055),
each sending its template first and again every 1000 datagrams, then data sets of 30
records. Records have a realistic spread: source and destination addresses from a few
thousand hosts (Zipf-like popularity, 20% IPv6 via a second template), ports from service
ports and the dynamic range, TCP/UDP/ICMP, four interfaces, varied TOS, packet and byte
counts. Deterministic for a given --seed. Prints {"records": N, "datagrams": D}.

  benches/gen_flow_pcap.py -o /tmp/flows.pcap -n 1000000
"""
import argparse
import itertools
import json
import random
import struct

V4_FIELDS = [(8, 4), (12, 4), (7, 2), (11, 2), (4, 1), (5, 1), (10, 4), (14, 4), (1, 8), (2, 8)]
V6_FIELDS = [(27, 16), (28, 16), (7, 2), (11, 2), (4, 1), (5, 1), (10, 4), (14, 4), (1, 8), (2, 8)]
PER_DATAGRAM = 30


def template_set(ipfix, tid, fields):
    body = struct.pack("!HH", tid, len(fields)) + b"".join(struct.pack("!HH", i, l) for i, l in fields)
    return struct.pack("!HH", 2 if ipfix else 0, 4 + len(body)) + body


def header(ipfix, body_len, count, seq, secs):
    if ipfix:
        return struct.pack("!HHIII", 10, 16 + body_len, secs, seq, 1)
    return struct.pack("!HHIIII", 9, count, 1000, secs, seq, 1)


def udp_frame(src, payload):
    udp = struct.pack("!HHHH", 40000, 2055, 8 + len(payload), 0) + payload
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), 0, 0, 64, 17, 0, bytes(src),
                     bytes([10, 0, 0, 9]))
    return b"\x02\x00\x00\x00\x00\x09\x02\x00\x00\x00\x00\x01\x08\x00" + ip + udp


def main():
    p = argparse.ArgumentParser()
    p.add_argument("-o", "--out", required=True)
    p.add_argument("-n", type=int, default=1_000_000, help="flow records")
    p.add_argument("--seed", type=int, default=1)
    a = p.parse_args()
    rnd = random.Random(a.seed)
    hosts4 = [bytes([10, rnd.randrange(256), rnd.randrange(256), rnd.randrange(1, 255)]) for _ in range(4000)]
    hosts6 = [bytes([0x20, 0x01, 0x0d, 0xb8] + [rnd.randrange(256) for _ in range(12)]) for _ in range(1000)]
    cum = list(itertools.accumulate(1.0 / (i + 1) for i in range(len(hosts4))))
    services = [53, 443, 80, 123, 22, 25, 993, 8080, 3306, 5353]

    def record(v6):
        if v6:
            s, d = rnd.choice(hosts6), rnd.choice(hosts6)
        else:
            s, d = rnd.choices(hosts4, cum_weights=cum, k=2)
        proto = rnd.choices((6, 17, 1), cum_weights=(60, 95, 100))[0]
        if proto == 1:
            sp, dp = 0, 0x0800
        elif rnd.random() < 0.5:
            sp, dp = rnd.randrange(49152, 65536), rnd.choice(services)
        else:
            sp, dp = rnd.choice(services), rnd.randrange(1024, 65536)
        pk = rnd.randrange(1, 200)
        return (s + d + struct.pack("!HHBBII", sp, dp, proto, rnd.choice([0, 0, 0, 0xb8, 0x28, 1]),
                                    rnd.randrange(1, 5), rnd.randrange(1, 5))
                + struct.pack("!QQ", pk * rnd.randrange(40, 1500), pk))

    out = open(a.out, "wb")
    out.write(struct.pack("<IHHiIII", 0xa1b2c3d4, 2, 4, 0, 0, 65535, 1))
    records = datagrams = 0
    seq = {False: 0, True: 0}
    t = 1_700_000_000.0
    while records < a.n:
        ipfix = datagrams % 2 == 1
        src = [192, 0, 2, 2 if ipfix else 1]
        sets = b""
        if seq[ipfix] % 1000 == 0:
            sets += template_set(ipfix, 256, V4_FIELDS) + template_set(ipfix, 257, V6_FIELDS)
        n = min(PER_DATAGRAM, a.n - records)
        v6 = rnd.random() < 0.2
        body = b"".join(record(v6) for _ in range(n))
        sets += struct.pack("!HH", 257 if v6 else 256, 4 + len(body)) + body
        payload = header(ipfix, len(sets), n, seq[ipfix], int(t)) + sets
        frame = udp_frame(src, payload)
        out.write(struct.pack("<IIII", int(t), int((t % 1) * 1e6), len(frame), len(frame)) + frame)
        seq[ipfix] += 1
        datagrams += 1
        records += n
        t += 0.0005
    out.close()
    print(json.dumps({"records": records, "datagrams": datagrams}))


if __name__ == "__main__":
    main()
