#!/usr/bin/env python3
"""Seeds for the `netflow` and `sflow` fuzz targets: the UDP payloads of flow captures
(pcap, Ethernet/IPv4/IPv6), as runs of consecutive datagrams each prefixed by a 2-byte
length (the targets' input format), at most 8 KiB per seed.

  scripts/flow_fuzz_seeds.py OUT-NETFLOW-DIR OUT-SFLOW-DIR CAPTURE...
"""
import hashlib
import os
import struct
import sys


def datagrams(path):
    d = open(path, "rb").read()
    if len(d) < 24:
        return
    magic = d[:4]
    endian = "<" if magic in (b"\xd4\xc3\xb2\xa1", b"\x4d\x3c\xb2\xa1") else ">"
    linktype = struct.unpack(endian + "I", d[20:24])[0]
    i = 24
    while i + 16 <= len(d):
        caplen = struct.unpack(endian + "I", d[i + 8:i + 12])[0]
        frame = d[i + 16:i + 16 + caplen]
        i += 16 + caplen
        if linktype != 1 or len(frame) < 14:
            continue
        et = struct.unpack("!H", frame[12:14])[0]
        ip = frame[14:]
        if et == 0x0800 and len(ip) >= 20 and ip[9] == 17:
            udp = ip[(ip[0] & 15) * 4:]
        elif et == 0x86DD and len(ip) >= 40 and ip[6] == 17:
            udp = ip[40:]
        else:
            continue
        if len(udp) >= 8:
            yield udp[8:]


def main():
    nf_dir, sf_dir, files = sys.argv[1], sys.argv[2], sys.argv[3:]
    for path in files:
        dgs = list(datagrams(path))
        is_sflow = bool(dgs) and dgs[0][:2] == b"\x00\x00"
        out = sf_dir if is_sflow else nf_dir
        start = 0
        while start < len(dgs) and start < 200:
            seed = b""
            j = start
            while j < len(dgs) and len(seed) + 2 + len(dgs[j]) <= 8192:
                seed += struct.pack("!H", len(dgs[j])) + dgs[j]
                j += 1
            if not seed:
                break
            open(os.path.join(out, hashlib.sha1(seed).hexdigest()), "wb").write(seed)
            start = max(j, start + 1)


if __name__ == "__main__":
    main()
