#!/usr/bin/env python3
"""Writes fuzz seeds for fuzz/fuzz_targets/decode.rs from capture files.

Each seed is: one selector byte choosing the link type of the first frame, then frames
as 2-byte big-endian length + bytes. Seeds hold 1 to 8 consecutive frames of a capture,
so TCP segments and IP fragments meet in one input.
Usage: fuzz_seeds.py OUT_DIR CAPTURE...
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


def main():
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
