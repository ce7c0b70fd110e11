#!/usr/bin/env python3
"""Writes fuzz seeds from capture files.

For fuzz/fuzz_targets/decode.rs (default): one selector byte choosing the link type of the
first frame, then frames as 2-byte big-endian length + bytes; seeds hold 1 to 8
consecutive frames of a capture, so TCP segments and IP fragments meet in one input.
For fuzz/fuzz_targets/dns.rs (--dns): the UDP payloads on DNS ports, one per seed.
Usage: fuzz_seeds.py [--dns] OUT_DIR CAPTURE...
"""
import os
import struct
import sys

LINKTYPES = [0, 1, 12, 14, 101, 108, 113, 228, 229, 276]


def frames(path):
    with open(path, "rb") as f:
        data = f.read()
    if len(data) < 24:
        return []
    magic = data[:4]
    if magic in (b"\xd4\xc3\xb2\xa1", b"\x4d\x3c\xb2\xa1"):
        e = "<"
    elif magic in (b"\xa1\xb2\xc3\xd4", b"\xa1\xb2\x3c\x4d"):
        e = ">"
    else:
        return []  # pcapng seeds are not needed: the same frames exist as pcap
    linktype = struct.unpack(e + "I", data[20:24])[0] & 0xFFFF
    out, off = [], 24
    while off + 16 <= len(data):
        _, _, caplen, _ = struct.unpack(e + "IIII", data[off:off + 16])
        off += 16
        out.append((linktype, data[off:off + caplen]))
        off += caplen
    return out


DNS_PORTS = {53, 5300, 5301, 5353, 5355, 53000}


def udp_payload(linktype, frame):
    """The UDP payload of an Ethernet/SLL IPv4 or IPv6 frame on a DNS port, else None."""
    if linktype == 1:
        off, et = 14, frame[12:14]
        while et in (b"\x81\x00", b"\x88\xa8") and len(frame) >= off + 4:
            et, off = frame[off + 2:off + 4], off + 4
    elif linktype == 113:
        off, et = 16, frame[14:16]
    else:
        return None
    ip = frame[off:]
    if et == b"\x08\x00" and len(ip) >= 20 and ip[9] == 17:
        udp = ip[(ip[0] & 15) * 4:]
    elif et == b"\x86\xdd" and len(ip) >= 40 and ip[6] == 17:
        udp = ip[40:]
    else:
        return None
    if len(udp) < 8:
        return None
    sport, dport = struct.unpack("!HH", udp[:4])
    if sport in DNS_PORTS or dport in DNS_PORTS:
        return udp[8:]
    return None


def dns_seeds(out_dir, paths):
    n = 0
    for path in paths:
        for lt, fr in frames(path):
            p = udp_payload(lt, fr)
            if p:
                with open(os.path.join(out_dir, f"dns-{n:05d}"), "wb") as f:
                    f.write(p)
                n += 1
    print(f"{n} seeds in {out_dir}")


def main():
    if sys.argv[1] == "--dns":
        os.makedirs(sys.argv[2], exist_ok=True)
        return dns_seeds(sys.argv[2], sys.argv[3:])
    out_dir = sys.argv[1]
    os.makedirs(out_dir, exist_ok=True)
    n = 0
    for path in sys.argv[2:]:
        fr = frames(path)
        step = max(1, len(fr) // 40)
        for i in range(0, len(fr), step):
            group = fr[i:i + 1 + (i % 8)]
            lt = group[0][0]
            if lt not in LINKTYPES:
                continue
            seed = bytes([LINKTYPES.index(lt)])
            for _, b in group:
                seed += struct.pack(">H", len(b)) + b
            with open(os.path.join(out_dir, f"seed-{n:05d}"), "wb") as f:
                f.write(seed)
            n += 1
    print(f"{n} seeds in {out_dir}")


if __name__ == "__main__":
    main()
